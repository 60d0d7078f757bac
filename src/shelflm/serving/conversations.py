"""The assistant's memory: a conversation's turns, kept for a bounded time.

Turns are JSON records (what the turn asked for and what it showed). With the SQLite store
they live in the same file (table `conversations`), so every worker process continues any
conversation; with the memory store, in the process. A conversation idle for longer than
`ttl_s` is forgotten, and only its last `max_turns` turns are kept.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from shelflm.serving.config import StoreConfig
from shelflm.serving.stage_config import AssistConfig

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT NOT NULL, n INTEGER NOT NULL, at REAL NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (id, n));
CREATE INDEX IF NOT EXISTS conversations_at ON conversations (at);
"""
_PRUNE_EVERY = 200  # appends between deletions of expired turns


class Conversations(Protocol):
    """Where conversations are kept."""

    def turns(self, conversation_id: str) -> list[dict] | None:
        """The kept turns, oldest first; None for an unknown or expired conversation."""

    def append(self, conversation_id: str, turn: dict) -> int:
        """Keep one more turn; returns its number (1 for the first)."""


class MemoryConversations:
    """In-process conversations, the least recently used dropped past `max_conversations`."""

    def __init__(self, ttl_s: float, max_turns: int, max_conversations: int) -> None:
        self.ttl_s, self.max_turns, self.max_conversations = ttl_s, max_turns, max_conversations
        self._kept: OrderedDict[str, tuple[float, int, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()

    def turns(self, conversation_id: str) -> list[dict] | None:
        with self._lock:
            kept = self._kept.get(conversation_id)
            if kept is None or kept[0] < time.time() - self.ttl_s:
                return None
            return list(kept[2])

    def append(self, conversation_id: str, turn: dict) -> int:
        with self._lock:
            _, count, turns = self._kept.pop(conversation_id, (0.0, 0, []))
            turns = [*turns, turn][-self.max_turns:]
            self._kept[conversation_id] = (time.time(), count + 1, turns)
            while len(self._kept) > self.max_conversations:
                self._kept.popitem(last=False)
            return count + 1


class SqliteConversations:
    """Conversations in a SQLite file (the event store's), shared by every worker."""

    def __init__(self, path: str | Path, ttl_s: float, max_turns: int) -> None:
        self.ttl_s, self.max_turns = ttl_s, max_turns
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")  # other workers write the same file
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._appends = 0

    def turns(self, conversation_id: str) -> list[dict] | None:
        with self._lock:
            rows = self._conn.execute(
                "SELECT at, body FROM conversations WHERE id = ? ORDER BY n DESC LIMIT ?",
                (conversation_id, self.max_turns)).fetchall()
        if not rows or rows[0][0] < time.time() - self.ttl_s:
            return None
        return [json.loads(body) for _, body in reversed(rows)]

    def append(self, conversation_id: str, turn: dict) -> int:
        now = time.time()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                (last,) = self._conn.execute(
                    "SELECT COALESCE(MAX(n), 0) FROM conversations WHERE id = ?",
                    (conversation_id,)).fetchone()
                self._conn.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)",
                                   (conversation_id, last + 1, now, json.dumps(turn)))
                self._conn.execute("DELETE FROM conversations WHERE id = ? AND n <= ?",
                                   (conversation_id, last + 1 - self.max_turns))
                self._appends += 1
                if self._appends % _PRUNE_EVERY == 0:
                    self._prune(now)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return last + 1

    def _prune(self, now: float) -> None:
        """Forget conversations idle past the ttl (their newest turn is too old)."""
        self._conn.execute(
            "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations GROUP BY id "
            "HAVING MAX(at) < ?)", (now - self.ttl_s,))


def make_conversations(store: StoreConfig, config: AssistConfig) -> Conversations:
    """The conversations of the configured store: its SQLite file, or this process."""
    if store.backend == "sqlite":
        return SqliteConversations(store.sqlite_path(), config.ttl_s, config.max_turns)
    return MemoryConversations(config.ttl_s, config.max_turns, config.max_conversations)
