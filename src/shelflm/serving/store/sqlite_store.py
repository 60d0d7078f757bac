"""SQLite event store: WAL journal and synchronous commits, so an acknowledged event survives
a crash; every event in `events`, each user's compressed recent sequence in `recent`."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from shelflm.serving.store import Event, compress_recent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    event TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_user_event ON events (user_id, event);
CREATE TABLE IF NOT EXISTS recent (user_id TEXT PRIMARY KEY, seq TEXT NOT NULL);
"""


def _decode(user_id: str, raw: str) -> list[Event]:
    return [Event(user_id, item, ev, ts, value) for item, ev, ts, value in json.loads(raw)]


def _encode(seq: list[Event]) -> str:
    return json.dumps([[e.item_id, e.event, e.timestamp, e.value] for e in seq])


class SqliteEventStore:
    """One writer connection behind a lock; one reader connection per thread, which WAL
    lets read while a batch commits."""

    def __init__(self, path: str | Path, recent_length: int = 50) -> None:
        self.path = Path(path)
        self.recent_length = recent_length
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is fsynced at every commit, so an acknowledged batch is on disk.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: cannot open as an SQLite event store: {exc}") from exc
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._readers.append(conn)
        return conn

    def append(self, events: Sequence[Event]) -> None:
        """Store a batch in one transaction; durable when this returns."""
        if not events:
            return
        by_user: dict[str, list[Event]] = defaultdict(list)
        for ev in events:
            by_user[ev.user_id].append(ev)
        with self._lock:
            w = self._writer
            w.execute("BEGIN IMMEDIATE")
            try:
                w.executemany(
                    "INSERT INTO events (user_id, item_id, event, ts, value) VALUES (?,?,?,?,?)",
                    [(e.user_id, e.item_id, e.event, e.timestamp, e.value) for e in events],
                )
                rows = []
                for user, evs in by_user.items():
                    old = w.execute("SELECT seq FROM recent WHERE user_id=?", (user,)).fetchone()
                    seq = _decode(user, old[0]) if old else []
                    rows.append((user, _encode(compress_recent(seq, evs, self.recent_length))))
                w.executemany("INSERT OR REPLACE INTO recent (user_id, seq) VALUES (?,?)", rows)
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise

    def recent(self, user_id: str, n: int | None = None) -> list[Event]:
        """The user's recent compressed sequence, oldest first."""
        row = self._reader().execute(
            "SELECT seq FROM recent WHERE user_id=?", (user_id,)).fetchone()
        if row is None or n == 0:
            return []
        seq = _decode(user_id, row[0])
        return seq if n is None else seq[-n:]

    def items_with_events(self, user_id: str, events: Sequence[str]) -> set[str]:
        """Items the user had any of `events` with, over the whole log."""
        if not events:
            return set()
        marks = ",".join("?" * len(events))
        rows = self._reader().execute(
            f"SELECT DISTINCT item_id FROM events WHERE user_id=? AND event IN ({marks})",
            (user_id, *events),
        ).fetchall()
        return {r[0] for r in rows}

    def count(self) -> int:
        """Number of stored events."""
        return int(self._reader().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def item_counts(self) -> dict[str, int]:
        """Events per item over the whole log."""
        rows = self._reader().execute("SELECT item_id, COUNT(*) FROM events GROUP BY item_id")
        return {item: int(n) for item, n in rows}

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in [*self._readers, self._writer]:
                conn.close()
            self._readers.clear()
