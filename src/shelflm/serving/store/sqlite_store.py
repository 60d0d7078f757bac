"""SQLite event store: WAL journal and synchronous commits, so an acknowledged event survives
a crash; every event in `events`, each user's compressed recent sequence in `recent`, and the
catalog changes made while serving in `item_log` (every worker process replays them) and
the artifact reloads in `reloads` (every worker follows the newest).

Stores made by earlier versions still open: their item_log has a `history` BLOB column (a
copy of `vector`), which is neither read nor written any more (new rows leave it NULL).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shelflm.serving.store import Event, ItemChange, RiskChange, compress_recent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL,
    event TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_user_event ON events (user_id, event);
CREATE TABLE IF NOT EXISTS recent (user_id TEXT PRIMARY KEY, seq TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS item_log (
    version INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, deleted INTEGER NOT NULL,
    row TEXT NOT NULL, model_version TEXT NOT NULL, vector BLOB, text BLOB);
CREATE TABLE IF NOT EXISTS risk_log (
    version INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, state TEXT NOT NULL,
    score REAL, reasons TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reloads (
    generation INTEGER PRIMARY KEY AUTOINCREMENT, artifact_dir TEXT NOT NULL);
"""


def _blob(v: np.ndarray | None) -> bytes | None:
    return None if v is None else np.ascontiguousarray(v, np.float32).tobytes()


def _array(b: bytes | None) -> np.ndarray | None:
    return None if b is None else np.frombuffer(b, np.float32).copy()


def _decode(user_id: str, raw: str) -> list[Event]:
    return [Event(user_id, item, ev, ts, value) for item, ev, ts, value in json.loads(raw)]


def _encode(seq: list[Event]) -> str:
    return json.dumps([[e.item_id, e.event, e.timestamp, e.value] for e in seq])


class SqliteEventStore:
    """One writer connection behind a lock; reader connections, which WAL lets read while
    a batch commits, from a pool: as many as were ever in use at once."""

    def __init__(self, path: str | Path, recent_length: int = 50) -> None:
        self.path = Path(path)
        self.recent_length = recent_length
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []  # every one opened, for close()
        self._idle: list[sqlite3.Connection] = []  # the pool: pop and append are atomic
        self._writer = self._connect()
        self._writer.executescript(_SCHEMA)
        # Only ever read, so its PRAGMA data_version moves with every commit made by any
        # other connection, this process's writer included: a change check costs microseconds.
        self._watch = self._connect()
        self._watch_lock = threading.Lock()
        self._data_version: int | None = None

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

    def _rows(self, sql: str, params: Sequence = ()) -> list:
        """Every row of one read, on an idle pooled reader (opened when none is idle).

        Not one connection per thread: the server's thread pool retires idle threads and
        starts new ones, and each new thread's connection (its page cache, ~2 MB) stayed
        open for good; measured in the soak as a connection and a few MB more a minute."""
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._connect()
            with self._lock:
                self._readers.append(conn)
        try:
            return conn.execute(sql, params).fetchall()  # read whole: no open snapshot kept
        finally:
            self._idle.append(conn)

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
        rows = self._rows("SELECT seq FROM recent WHERE user_id=?", (user_id,))
        if not rows or n == 0:
            return []
        seq = _decode(user_id, rows[0][0])
        return seq if n is None else seq[-n:]

    def items_with_events(self, user_id: str, events: Sequence[str]) -> set[str]:
        """Items the user had any of `events` with, over the whole log."""
        if not events:
            return set()
        marks = ",".join("?" * len(events))
        rows = self._rows(
            f"SELECT DISTINCT item_id FROM events WHERE user_id=? AND event IN ({marks})",
            (user_id, *events))
        return {r[0] for r in rows}

    def count(self) -> int:
        """Number of stored events."""
        return int(self._rows("SELECT COUNT(*) FROM events")[0][0])

    def item_counts(self) -> dict[str, int]:
        """Events per item over the whole log."""
        rows = self._rows("SELECT item_id, COUNT(*) FROM events GROUP BY item_id")
        return {item: int(n) for item, n in rows}

    def popularity_snapshot(self) -> tuple[int, dict[str, int]]:
        """(event mark, events per item up to that mark)."""
        mark = int(self._rows("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])
        rows = self._rows("SELECT item_id, COUNT(*) FROM events WHERE id <= ? "
                          "GROUP BY item_id", (mark,))
        return mark, {item: int(n) for item, n in rows}

    def recent_users(self, limit: int) -> list[str]:
        """Most recently active users first: INSERT OR REPLACE gives an updated user's row a
        new rowid, so rowid order is the order of last activity."""
        rows = self._rows("SELECT user_id FROM recent ORDER BY rowid DESC LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def changed(self) -> bool:
        """Whether any connection committed since the last call (PRAGMA data_version)."""
        with self._watch_lock:
            version = self._watch.execute("PRAGMA data_version").fetchone()[0]
            seen, self._data_version = self._data_version, version
            return seen != version

    def events_since(self, mark: int) -> tuple[int, list[tuple[str, str]]]:
        """(new mark, (user_id, item_id) of events with id > `mark`). Writers commit one at a
        time (BEGIN IMMEDIATE), so ids appear in increasing order and none is skipped."""
        rows = self._rows(
            "SELECT id, user_id, item_id FROM events WHERE id > ? ORDER BY id", (mark,))
        return (int(rows[-1][0]) if rows else mark), [(u, i) for _, u, i in rows]

    def export_events(self, mark: int, limit: int) -> tuple[int, list[Event]]:
        """(new mark, up to `limit` events with id > `mark`, in order)."""
        rows = self._rows("SELECT id, user_id, item_id, event, ts, value FROM events "
                          "WHERE id > ? ORDER BY id LIMIT ?", (mark, limit))
        return (int(rows[-1][0]) if rows else mark), [
            Event(u, i, e, int(t), float(v)) for _, u, i, e, t, v in rows]

    def log_items(self, changes: Sequence[ItemChange]) -> int:
        """Append catalog changes in one transaction; durable when this returns. Returns the
        last one's version (BEGIN IMMEDIATE: no other writer can interleave its rows)."""
        if not changes:
            return int(self._rows("SELECT COALESCE(MAX(version), 0) FROM item_log")[0][0])
        rows = [(c.item_id, int(c.deleted), json.dumps(c.row), c.model_version,
                 _blob(c.vector), _blob(c.text)) for c in changes]
        return self._append_log("INSERT INTO item_log (item_id, deleted, row, model_version, "
                                "vector, text) VALUES (?,?,?,?,?,?)", rows, "item_log")

    def _append_log(self, insert: str, rows: list[tuple], table: str) -> int:
        """Insert `rows` into a versioned log table in one transaction (BEGIN IMMEDIATE: no
        other writer interleaves); durable when this returns. Returns the last version."""
        with self._lock:
            w = self._writer
            w.execute("BEGIN IMMEDIATE")
            try:
                w.executemany(insert, rows)
                last = int(w.execute(f"SELECT COALESCE(MAX(version), 0) FROM {table}")
                           .fetchone()[0])
                w.execute("COMMIT")
            except BaseException:
                w.execute("ROLLBACK")
                raise
        return last

    def item_changes_since(self, version: int) -> list[ItemChange]:
        """Catalog changes with version > `version`, oldest first."""
        rows = self._rows(
            "SELECT version, item_id, deleted, row, model_version, vector, text "
            "FROM item_log WHERE version > ? ORDER BY version", (version,))
        return [ItemChange(item, bool(deleted), json.loads(row), model, _array(vec),
                           _array(text), int(v))
                for v, item, deleted, row, model, vec, text in rows]

    def user_events(self, user_id: str, limit: int) -> list[Event]:
        """The user's last `limit` events, oldest first."""
        rows = self._rows("SELECT item_id, event, ts, value FROM events WHERE user_id=? "
                          "ORDER BY id DESC LIMIT ?", (user_id, max(limit, 0)))
        return [Event(user_id, i, e, int(t), float(v)) for i, e, t, v in reversed(rows)]

    def item_events(self, item_id: str, limit: int, window: int) -> list[Event]:
        """The item's last `limit` events among the newest `window`, newest first (the id
        range is the primary key's: no scan beyond the window)."""
        rows = self._rows("SELECT user_id, event, ts, value FROM events WHERE item_id=? AND "
                          "id > (SELECT COALESCE(MAX(id), 0) FROM events) - ? "
                          "ORDER BY id DESC LIMIT ?", (item_id, max(window, 0), max(limit, 0)))
        return [Event(u, item_id, e, int(t), float(v)) for u, e, t, v in rows]

    def user_count(self) -> int:
        """Number of users with stored events (one `recent` row each)."""
        return int(self._rows("SELECT COUNT(*) FROM recent")[0][0])

    def user_item_counts(self, user_id: str, mark: int) -> dict[str, int]:
        """Events per item of one user with id <= `mark`."""
        rows = self._rows("SELECT item_id, COUNT(*) FROM events WHERE user_id=? AND id <= ? "
                          "GROUP BY item_id", (user_id, mark))
        return {item: int(n) for item, n in rows}

    def log_risk(self, changes: Sequence[RiskChange]) -> int:
        """Append risk changes in one transaction; durable when this returns."""
        rows = [(c.user_id, c.state, c.score, c.reasons) for c in changes]
        return self._append_log("INSERT INTO risk_log (user_id, state, score, reasons) "
                                "VALUES (?,?,?,?)", rows, "risk_log")

    def risk_changes_since(self, version: int) -> list[RiskChange]:
        """Risk changes with version > `version`, oldest first."""
        rows = self._rows("SELECT version, user_id, state, score, reasons FROM risk_log "
                          "WHERE version > ? ORDER BY version", (version,))
        return [RiskChange(u, st, score, reasons, int(v)) for v, u, st, score, reasons in rows]

    def log_reload(self, artifact_dir: str) -> int:
        """Record a reload in its own transaction; durable when this returns."""
        with self._lock:
            cur = self._writer.execute("INSERT INTO reloads (artifact_dir) VALUES (?)",
                                       (artifact_dir,))
            return int(cur.lastrowid)

    def latest_reload(self) -> tuple[int, str]:
        """(generation, artifact dir) of the newest reload; (0, "") when none."""
        rows = self._rows("SELECT generation, artifact_dir FROM reloads "
                          "ORDER BY generation DESC LIMIT 1")
        return (int(rows[0][0]), rows[0][1]) if rows else (0, "")

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in [*self._readers, self._writer, self._watch]:
                conn.close()
            self._readers.clear()
            self._idle.clear()
