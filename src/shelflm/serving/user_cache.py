"""Per-user cache of what a recommendation needs from the user: recent history resolved to
slots, the excluded (bought) items and the user tower's output, so the tower runs once per
(user, history) and a cached request touches no store."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

_serials = itertools.count(1)
Stale = Callable[[np.ndarray, int], bool]  # ItemTable.stale: (history slots, clock) -> stale?


@dataclass(slots=True)
class UserState:
    """A user's serving inputs; `vector` is None when no history item is in the catalog."""

    slots: np.ndarray  # item slots of the recent events whose items are live, oldest first
    events: np.ndarray  # their event-type indices (EVENT_TYPES order)
    bought: set[str] = field(default_factory=set)  # items excluded by the rules
    vector: np.ndarray | None = None
    generation: int = 0  # the engine generation (model) it was computed under
    clock: int = 0  # the item table's clock then (ItemTable.stale)
    # Unique per computed state (process-wide): part of the revision of the user's answers.
    serial: int = field(default_factory=_serials.__next__)


class UserCache:
    """Bounded LRU of UserState by user id; size 0 turns it off."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, UserState] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, generation: int, stale: Stale | None = None) -> UserState | None:
        """The cached state if it was made under `generation` and its history items are not
        `stale` (since its clock), else None."""
        with self._lock:
            state = self._entries.get(user_id)
            if state is None or state.generation != generation or (
                    stale and stale(state.slots, state.clock)):
                self.misses += 1
                return None
            self._entries.move_to_end(user_id)
            self.hits += 1
            return state

    def put(self, user_id: str, state: UserState) -> None:
        """Remember a state, evicting the least recently used past `size`."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[user_id] = state
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def invalidate(self, user_ids: Iterable[str]) -> None:
        """Forget these users (their history changed)."""
        with self._lock:
            for user in user_ids:
                self._entries.pop(user, None)

    def valid(self, generation: int) -> dict[str, UserState]:
        """A copy of the entries made under `generation`, least recently used first (which
        are stale by item changes is the caller's to check, off this lock)."""
        with self._lock:
            return {u: s for u, s in self._entries.items() if s.generation == generation}

    def replace(self, states: dict[str, UserState], generation: int) -> None:
        """Hold exactly `states` (a new model's, computed aside; the last ones count as the
        most recently used), stamped valid for `generation`."""
        kept = list(states.items())[-self.size:] if self.size > 0 else []
        for _, state in kept:
            state.generation = generation
        with self._lock:
            self._entries = OrderedDict(kept)

    def stats(self) -> dict:
        """Size, hits and misses since start."""
        return {"size": len(self._entries), "capacity": self.size, "hits": self.hits,
                "misses": self.misses}
