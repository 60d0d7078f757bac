"""In-memory event store: the null backend for tests and throw-away demos (nothing durable)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence

from shelflm.serving.store import Event, compress_recent


class MemoryEventStore:
    """Keeps events in lists; same contract as SqliteEventStore except durability."""

    def __init__(self, recent_length: int = 50) -> None:
        self.recent_length = recent_length
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._recent: dict[str, list[Event]] = {}
        self._by_user: dict[str, list[Event]] = defaultdict(list)

    def append(self, events: Sequence[Event]) -> None:
        """Store a batch."""
        by_user: dict[str, list[Event]] = defaultdict(list)
        for ev in events:
            by_user[ev.user_id].append(ev)
        with self._lock:
            self._events.extend(events)
            for user, evs in by_user.items():
                self._by_user[user].extend(evs)
                old = self._recent.get(user, [])
                self._recent[user] = compress_recent(old, evs, self.recent_length)

    def recent(self, user_id: str, n: int | None = None) -> list[Event]:
        """The user's recent compressed sequence, oldest first."""
        seq = self._recent.get(user_id, [])
        return list(seq if n is None else seq[-n:]) if n != 0 else []

    def items_with_events(self, user_id: str, events: Sequence[str]) -> set[str]:
        """Items the user had any of `events` with."""
        wanted = set(events)
        with self._lock:
            return {e.item_id for e in self._by_user.get(user_id, ()) if e.event in wanted}

    def count(self) -> int:
        """Number of stored events."""
        return len(self._events)

    def item_counts(self) -> dict[str, int]:
        """Events per item."""
        with self._lock:
            return dict(Counter(e.item_id for e in self._events))

    def close(self) -> None:
        """Nothing to release."""
