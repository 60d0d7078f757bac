"""Conversations are kept for a bounded time and a bounded number of turns; with SQLite,
every worker process (here: two instances over one file) continues any conversation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shelflm.serving.conversations import MemoryConversations, SqliteConversations


@pytest.fixture(params=["memory", "sqlite"])
def make(request, tmp_path: Path):
    def build(ttl_s: float = 60.0, max_turns: int = 3):
        if request.param == "memory":
            return MemoryConversations(ttl_s, max_turns, max_conversations=2)
        return SqliteConversations(tmp_path / "events.sqlite", ttl_s, max_turns)
    return build


def test_turns_are_numbered_and_only_the_last_are_kept(make) -> None:
    kept = make(max_turns=3)
    assert kept.turns("c") is None
    assert [kept.append("c", {"n": n}) for n in range(5)] == [1, 2, 3, 4, 5]
    assert kept.turns("c") == [{"n": 2}, {"n": 3}, {"n": 4}]


def test_an_idle_conversation_is_forgotten(make) -> None:
    kept = make(ttl_s=0.05)
    kept.append("c", {"n": 1})
    time.sleep(0.1)
    assert kept.turns("c") is None


def test_two_workers_share_a_conversation_through_sqlite(tmp_path: Path) -> None:
    one = SqliteConversations(tmp_path / "events.sqlite", 60, 10)
    two = SqliteConversations(tmp_path / "events.sqlite", 60, 10)
    one.append("c", {"wish": "boots"})
    assert two.append("c", {"wish": "cheaper"}) == 2
    assert [t["wish"] for t in one.turns("c")] == ["boots", "cheaper"]


def test_memory_keeps_the_most_recent_conversations() -> None:
    kept = MemoryConversations(60, 3, max_conversations=2)
    for cid in ("a", "b", "c"):
        kept.append(cid, {})
    assert kept.turns("a") is None and kept.turns("c") == [{}]
