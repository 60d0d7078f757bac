"""In-memory event store: the null backend for tests and throw-away demos (nothing durable)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from shelflm.serving.store import Event, ItemChange, RiskChange, compress_recent


class MemoryEventStore:
    """Keeps events in lists; same contract as SqliteEventStore except durability."""

    def __init__(self, recent_length: int = 50) -> None:
        self.recent_length = recent_length
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._recent: dict[str, list[Event]] = {}
        self._by_user: dict[str, list[Event]] = defaultdict(list)
        self._items: list[ItemChange] = []
        self._reloads: list[str] = []
        self._risk: list[RiskChange] = []
        self._seen_writes = self._writes = 0

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
            self._writes += 1

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

    def popularity_snapshot(self) -> tuple[int, dict[str, int]]:
        """(event mark, events per item up to it)."""
        with self._lock:
            return len(self._events), dict(Counter(e.item_id for e in self._events))

    def recent_users(self, limit: int) -> list[str]:
        """Most recently active users first."""
        with self._lock:
            order = {e.user_id: i for i, e in enumerate(self._events)}
        return sorted(order, key=order.get, reverse=True)[:limit]

    def changed(self) -> bool:
        """Whether anything was appended or logged since the last call."""
        with self._lock:
            seen, self._seen_writes = self._seen_writes, self._writes
            return seen != self._writes

    def events_since(self, mark: int) -> tuple[int, list[tuple[str, str]]]:
        """(new mark, (user_id, item_id) of events after `mark`); the mark is a list position."""
        with self._lock:
            new = self._events[mark:]
            return mark + len(new), [(e.user_id, e.item_id) for e in new]

    def export_events(self, mark: int, limit: int) -> tuple[int, list[Event]]:
        """(new mark, up to `limit` events after `mark`); the mark is a list position."""
        with self._lock:
            new = self._events[mark:mark + limit]
            return mark + len(new), list(new)

    def log_items(self, changes: Sequence[ItemChange]) -> int:
        """Append catalog changes; returns the last one's version."""
        return self._append_log(self._items, changes)

    def _append_log(self, log: list, changes: Sequence) -> int:
        """Append `changes` to a versioned log, numbering them from 1; the last version."""
        with self._lock:
            for c in changes:
                log.append(replace(c, version=len(log) + 1))
            self._writes += 1
            return len(log)

    def item_changes_since(self, version: int) -> list[ItemChange]:
        """Catalog changes after `version` (versions count from 1)."""
        with self._lock:
            return self._items[version:]

    def user_events(self, user_id: str, limit: int) -> list[Event]:
        """The user's last `limit` events, oldest first."""
        with self._lock:
            return list(self._by_user.get(user_id, [])[-limit:]) if limit > 0 else []

    def user_item_counts(self, user_id: str, mark: int) -> dict[str, int]:
        """Events per item of one user among the first `mark` events."""
        with self._lock:
            return dict(Counter(e.item_id for e in self._events[:mark] if e.user_id == user_id))

    def item_events(self, item_id: str, limit: int, window: int) -> list[Event]:
        """The item's last `limit` events among the newest `window`, newest first."""
        with self._lock:
            newest = self._events[-window:] if window > 0 else []
        return [e for e in reversed(newest) if e.item_id == item_id][:max(limit, 0)]

    def user_count(self) -> int:
        """Number of users with stored events."""
        return len(self._recent)

    def log_risk(self, changes: Sequence[RiskChange]) -> int:
        """Append risk changes; returns the last one's version."""
        return self._append_log(self._risk, changes)

    def risk_changes_since(self, version: int) -> list[RiskChange]:
        """Risk changes after `version` (versions count from 1)."""
        with self._lock:
            return self._risk[version:]

    def log_reload(self, artifact_dir: str) -> int:
        """Record a reload (one process: only its own engine ever reads it)."""
        with self._lock:
            self._reloads.append(artifact_dir)
            self._writes += 1
            return len(self._reloads)

    def latest_reload(self) -> tuple[int, str]:
        """(generation, artifact dir) of the newest reload; (0, "") when none."""
        with self._lock:
            return (len(self._reloads), self._reloads[-1]) if self._reloads else (0, "")

    def close(self) -> None:
        """Nothing to release."""
