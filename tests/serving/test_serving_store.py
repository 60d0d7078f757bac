"""Every EventStore backend passes the same contract; SQLite also survives reopening."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from shelflm.serving.store import Event, EventStore, ItemChange, RiskChange
from shelflm.serving.store.memory_store import MemoryEventStore
from shelflm.serving.store.sqlite_store import SqliteEventStore


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path: Path) -> EventStore:
    s = SqliteEventStore(tmp_path / "ev.sqlite", 4) if request.param == "sqlite" \
        else MemoryEventStore(4)
    yield s
    s.close()


def test_is_an_event_store(store: EventStore) -> None:
    assert isinstance(store, EventStore)


def test_recent_is_oldest_first_and_capped(store: EventStore) -> None:
    store.append([Event("u", f"i{i}", "view", i) for i in range(6)])
    assert [e.item_id for e in store.recent("u")] == ["i2", "i3", "i4", "i5"]
    assert [e.item_id for e in store.recent("u", 2)] == ["i4", "i5"]
    assert store.recent("nobody") == []


def test_recent_folds_immediate_repeats(store: EventStore) -> None:
    store.append([Event("u", "a", "view", 1), Event("u", "a", "view", 2)])
    store.append([Event("u", "a", "view", 3), Event("u", "a", "purchase", 4)])
    got = store.recent("u")
    assert [(e.item_id, e.event, e.timestamp) for e in got] == [("a", "view", 3),
                                                               ("a", "purchase", 4)]
    assert store.count() == 4  # every event is still kept in the log


def test_users_are_separate_and_whole_history_is_searchable(store: EventStore) -> None:
    store.append([Event("u", "old", "purchase", 0)] +
                 [Event("u", f"i{i}", "view", i + 1) for i in range(10)] +
                 [Event("v", "x", "add_to_cart", 5, 2.0)])
    assert store.items_with_events("u", ["purchase"]) == {"old"}  # beyond the recent window
    assert store.items_with_events("u", []) == set()
    assert store.recent("v") == [Event("v", "x", "add_to_cart", 5, 2.0)]
    assert store.count() == 12
    counts = store.item_counts()
    assert counts["old"] == 1 and counts["x"] == 1 and len(counts) == 12


def test_event_type_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown type 'like'"):
        Event("u", "i", "like", 0)


def test_sqlite_keeps_events_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ev.sqlite"
    s = SqliteEventStore(path)
    s.append([Event("u", "a", "view", 1), Event("u", "b", "click", 2)])
    s.close()
    s = SqliteEventStore(path)
    assert s.count() == 2 and [e.item_id for e in s.recent("u")] == ["a", "b"]
    mode = s._writer.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    s.close()


def test_sqlite_reads_from_short_lived_threads_reuse_connections(tmp_path: Path) -> None:
    # A server's thread pool retires idle threads and starts new ones: connections must
    # not pile up with them (each holds a page cache).
    store = SqliteEventStore(tmp_path / "events.sqlite")
    store.append([Event("u", "i1", "view", 1)])
    seen = []
    for _ in range(30):
        t = threading.Thread(target=lambda: seen.append(store.recent("u")))
        t.start()
        t.join()
    assert len(seen) == 30 and all(s[0].item_id == "i1" for s in seen)
    assert len(store._readers) == 1
    store.close()


def test_sqlite_rejects_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="bad.sqlite"):
        SqliteEventStore(bad)


def test_change_feed_marks_and_item_log(store: EventStore) -> None:
    store.changed()
    assert store.changed() is False  # nothing written since the last look
    mark0, counts = store.popularity_snapshot()
    assert counts == {}
    store.append([Event("u", "a", "view", 1), Event("v", "b", "view", 2)])
    assert store.changed() is True and store.changed() is False
    mark, pairs = store.events_since(mark0)
    assert pairs == [("u", "a"), ("v", "b")] and store.events_since(mark) == (mark, [])
    first, events = store.export_events(mark0, 1)
    assert events == [Event("u", "a", "view", 1)] and first < mark
    assert store.export_events(first, 10) == (mark, [Event("v", "b", "view", 2)])
    assert store.popularity_snapshot() == (mark, {"a": 1, "b": 1})
    vec = np.arange(3, dtype=np.float32)
    store.log_items([ItemChange("n", row={"item_id": "n", "title": "t", "price": None},
                                model_version="m", vector=vec, text=vec),
                     ItemChange("a", deleted=True)])
    assert store.changed() is True
    got = store.item_changes_since(0)
    assert [(c.item_id, c.deleted) for c in got] == [("n", False), ("a", True)]
    assert got[0].row["price"] is None and np.array_equal(got[0].text, vec)
    assert got[0].model_version == "m" and got[1].vector is None
    assert [c.item_id for c in store.item_changes_since(got[0].version)] == ["a"]


def test_recent_users_most_recently_active_first(store: EventStore) -> None:
    store.append([Event("u", "a", "view", 1), Event("v", "a", "view", 2)])
    store.append([Event("w", "b", "view", 3)])
    store.append([Event("u", "c", "view", 4)])
    assert store.recent_users(10) == ["u", "w", "v"]
    assert store.recent_users(2) == ["u", "w"]


def test_reloads_are_numbered_and_the_newest_wins(store: EventStore) -> None:
    assert store.latest_reload() == (0, "")
    store.changed()
    assert store.log_reload("/models/a") == 1
    assert store.changed()  # a reload is a change every worker's check sees
    assert store.log_reload("/models/b") == 2
    assert store.latest_reload() == (2, "/models/b")


# The item_log table as stores made before history vectors were dropped created it.
OLD_ITEM_LOG = """CREATE TABLE item_log (
    version INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, deleted INTEGER NOT NULL,
    row TEXT NOT NULL, model_version TEXT NOT NULL, vector BLOB, history BLOB, text BLOB);"""


def test_sqlite_opens_a_store_whose_item_log_has_a_history_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    vec = np.arange(3, dtype=np.float32)
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_ITEM_LOG)
        conn.execute("INSERT INTO item_log (item_id, deleted, row, model_version, vector, "
                     "history, text) VALUES ('n', 0, '{\"item_id\": \"n\"}', 'm', ?, ?, ?)",
                     (vec.tobytes(), vec.tobytes(), (vec + 1).tobytes()))
    conn.close()
    store = SqliteEventStore(path)
    (old,) = store.item_changes_since(0)
    assert (old.item_id, old.model_version, old.row) == ("n", "m", {"item_id": "n"})
    assert np.array_equal(old.vector, vec) and np.array_equal(old.text, vec + 1)
    last = store.log_items([ItemChange("p", row={"item_id": "p"}, model_version="m",
                                       vector=vec * 2, text=vec)])
    got = store.item_changes_since(old.version)
    assert [c.version for c in got] == [last] and np.array_equal(got[0].vector, vec * 2)
    store.close()
    with sqlite3.connect(path) as conn:  # the old column stays, NULL in new rows
        rows = conn.execute("SELECT history IS NULL FROM item_log ORDER BY version").fetchall()
    conn.close()
    assert rows == [(0,), (1,)]


def test_user_events_and_the_risk_log(store: EventStore) -> None:
    store.append([Event("u", f"i{k % 3}", "view", k) for k in range(7)]
                 + [Event("v", "i0", "view", 9)])
    assert [e.timestamp for e in store.user_events("u", 3)] == [4, 5, 6]  # the last, in order
    assert store.user_events("nobody", 5) == []
    mark, _ = store.events_since(0)
    assert store.user_item_counts("u", mark) == {"i0": 3, "i1": 2, "i2": 2}
    assert store.risk_changes_since(0) == []
    last = store.log_risk([RiskChange("u", "quarantined", 0.99, "[]"),
                           RiskChange("u", "released")])
    changes = store.risk_changes_since(0)
    assert [(c.user_id, c.state, c.version) for c in changes] == [
        ("u", "quarantined", last - 1), ("u", "released", last)]
    assert changes[0].score == 0.99 and store.risk_changes_since(last) == []
    with pytest.raises(ValueError, match="state"):
        RiskChange("u", "banned")


def test_item_events_look_back_a_window_newest_first_and_users_are_counted(
        store: EventStore) -> None:
    assert store.user_count() == 0 and store.item_events("i0", 5, 100) == []
    store.append([Event(f"u{k % 4}", f"i{k % 2}", "view", k) for k in range(10)])
    got = store.item_events("i0", 3, 100)
    assert [(e.user_id, e.item_id, e.timestamp) for e in got] == [
        ("u0", "i0", 8), ("u2", "i0", 6), ("u0", "i0", 4)]
    assert [e.timestamp for e in store.item_events("i0", 10, 4)] == [8, 6]  # newest 4 only
    assert store.user_count() == 4
