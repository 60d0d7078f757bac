"""Following the reloads recorded in the shared store: with several workers, the one that
answers POST /admin/reload records (generation, artifact dir); every other worker notices it
on its next change check, loads it aside in a background thread and swaps it in."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from shelflm.serving.state import ServingState
from shelflm.serving.store import EventStore

_log = logging.getLogger(__name__)


class ReloadFollower:
    """Which recorded reload a worker serves (`mark`) and the newest one being loaded."""

    def __init__(self, store: EventStore, lock: threading.RLock,
                 load: Callable[[Path], ServingState],
                 swap: Callable[[ServingState, int], None]) -> None:
        self.store, self._lock, self._load, self._swap = store, lock, load, swap
        # Reloads recorded before this start are history: a (re)started server serves the
        # artifact it was given.
        self.mark = self.loading = store.latest_reload()[0]

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
        """Background thread: the old state answers while the new one loads, so no request
        waits for the load or fails."""
        try:
            state = self._load(directory)
        except Exception:  # the worker that recorded it loaded it: keep serving, say why
            _log.exception("reload %d of %s failed in worker %d", generation, directory,
                           os.getpid())
            with self._lock:
                self.served(generation)  # do not retry on every change check
            return
        with self._lock:
            if generation > self.mark:  # not overtaken by a newer reload meanwhile
                self._swap(state, generation)
