"""Reloads: the worker that answers POST /admin/reload checks that the folder lies inside the
models directory, loads it aside (any failure is the request's fault, a 4xx, and the old
model keeps serving), swaps it in and records (generation, artifact dir) in the shared store;
every other worker notices it on its next change check, loads it aside in a background thread
and swaps it in. "Loads aside" includes the new model's cached users (`Prepared.users`), so
returning shoppers stay warm across the swap."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shelflm.serving.errors import RequestError
from shelflm.serving.state import ServingState
from shelflm.serving.store import EventStore
from shelflm.serving.user_cache import UserState

_log = logging.getLogger(__name__)
FIELD = "artifact_dir"  # the request field that names the folder
OUTSIDE = "must name an artifact folder inside the models directory"
T = TypeVar("T")


def give_back_memory() -> None:
    """Hand the old state's freed pages back to the OS: glibc keeps freed memory in its
    arenas (30-50 MB a reload measured, benchmarks/reload_memory.py --trim). ctypes lets
    go of the GIL meanwhile; a no-op without glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


@dataclass
class Prepared:
    """A state built aside and its users' states, computed for its model (oldest first)."""

    state: ServingState
    users: dict[str, UserState]


def models_root(models_dir: Path | None, start_artifact: Path | None) -> Path | None:
    """The folder reloads may load from, absolute: `models_dir`, else the start artifact's
    parent; None when neither is known (reloads are off)."""
    if models_dir is not None:
        return Path(os.path.abspath(models_dir.expanduser()))
    if start_artifact is not None:
        return Path(os.path.abspath(start_artifact)).parent
    return None


def artifact_under(root: Path | None, requested: str | Path) -> Path:
    """The resolved folder `requested` names (a relative one: inside `root`), or RequestError.

    A path outside `root` is refused before anything outside is looked at, with one message
    whether it exists or not; a symlink inside that leads out is refused alike."""
    if root is None:
        raise RequestError(FIELD, "reloads are off: no models directory (set models_dir)")
    real = root.resolve()
    joined = root / requested  # an absolute `requested` replaces root
    lexical = Path(os.path.normpath(joined))
    if not (lexical.is_relative_to(root) or lexical.is_relative_to(real)):
        raise RequestError(FIELD, OUTSIDE)
    resolved = _usable(joined.resolve)
    if not resolved.is_relative_to(real):
        raise RequestError(FIELD, OUTSIDE)
    if not _usable(resolved.is_dir):
        raise RequestError(FIELD, f"{_shown(resolved, real)} is not a folder", "not_found")
    return resolved


def _usable(call: Callable[[], T]) -> T:
    """call(); a path the OS cannot use (NUL byte, name too long, symlink loop) is refused."""
    try:
        return call()
    except (OSError, RuntimeError, ValueError) as exc:
        raise RequestError(FIELD, "not a usable folder path") from exc


def _shown(path: Path, real_root: Path) -> str:
    return str(path.relative_to(real_root))


def cannot_load(directory: Path, root: Path, exc: Exception) -> RequestError:
    """The 4xx for a folder inside `root` that does not load, paths shown relative to it."""
    real = root.resolve()
    reason = str(exc).replace(f"{real}{os.sep}", "").replace(str(real), ".")
    return RequestError(FIELD, f"cannot load {_shown(directory, real)}: "
                               f"{type(exc).__name__}: {reason}")


class ReloadFollower:
    """Which recorded reload a worker serves (`mark`) and the newest one being loaded."""

    def __init__(self, store: EventStore, lock: threading.RLock,
                 load: Callable[[Path], Prepared],
                 swap: Callable[[Prepared, int], None], start: int | None = None) -> None:
        self.store, self._lock, self._load, self._swap = store, lock, load, swap
        # Reloads recorded before the server started are history: a (re)started server
        # serves the artifact it was given. `start` is the generation the server saw at its
        # launch, so a worker that comes up after a reload was recorded still follows it;
        # None: the newest now (one process, nothing can have been recorded in between).
        self.mark = self.loading = store.latest_reload()[0] if start is None else start

    def reload(self, requested: str | Path, root: Path | None) -> Prepared:
        """Load `requested` (inside `root`) aside, swap it in and record it for the other
        workers; RequestError when it is outside or does not load (nothing changes then)."""
        directory = artifact_under(root, requested)
        assert root is not None  # artifact_under refuses everything without one
        try:
            prepared = self._load(directory)
        except Exception as exc:  # whatever the folder holds, a bad one is the caller's fault
            _log.warning("reload of %s refused", directory, exc_info=True)
            raise cannot_load(directory, root, exc) from exc
        with self._lock:  # recorded only once it loaded: a broken folder reaches no one
            self._swap(prepared, self.store.log_reload(str(directory)))
        give_back_memory()
        return prepared

    def served(self, generation: int) -> None:
        """Under the lock: the worker serves `generation` now (or something newer)."""
        self.mark = max(self.mark, generation)

    def check(self) -> None:
        """Under the lock, after a change check: start loading a newer recorded reload."""
        generation, directory = self.store.latest_reload()
        if generation > max(self.mark, self.loading):
            self.loading = generation
            threading.Thread(target=self._follow, args=(generation, Path(directory)),
                             name=f"reload-{generation}", daemon=True).start()

    def _follow(self, generation: int, directory: Path) -> None:
        """Background thread: the old state answers while the new one (and its users) loads,
        so no request waits for the load or fails."""
        try:
            prepared = self._load(directory)
        except Exception:  # the worker that recorded it loaded it: keep serving, say why
            _log.exception("reload %d of %s failed in worker %d", generation, directory,
                           os.getpid())
            with self._lock:
                self.served(generation)  # do not retry on every change check
            return
        with self._lock:
            if generation > self.mark:  # not overtaken by a newer reload meanwhile
                self._swap(prepared, generation)
        give_back_memory()
