"""Several workers = several engines on one SQLite file: events and catalog changes made
through one are seen by the other before its next answer, and survive a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from hashing_model import HashingModel
from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event
from shelflm.serving.store.sqlite_store import SqliteEventStore

LOADER = "hashing_model:load_hashing_artifact"
LIPSTICK = {"item_id": "n1", "title": "red matte lipstick", "category": "Beauty > Makeup > Lips",
            "price": 7.5}


def _worker(model: HashingModel, db: Path) -> Engine:
    cfg = ServingConfig(store=StoreConfig(path=db))
    return Engine(model, SqliteEventStore(db), cfg)


def test_two_workers_share_events_items_and_deletes(model: HashingModel, tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    a, b = _worker(model, db), _worker(model, db)
    b.ingest([Event("u", "i0", "view", 1)])
    assert b.recommend("u", 3).source == "personal"  # b caches u now
    a.ingest([Event("u", "i15", "purchase", 2), Event("u", "i17", "add_to_cart", 3)])
    after = b.recommend("u", 3)
    assert "Hair" in after.items[0].category and "i15" not in {r.item_id for r in after.items}
    a.upsert_items(pd.DataFrame([LIPSTICK]))
    assert b.similar("i0", 1).items[0].item_id == "n1"  # same text: nearest to lipstick i0
    assert b._state.items.price[b._state.items.slot_of["n1"]] == 7.5
    b.ingest([Event("w", "n1", "view", 1)])  # b accepts events for a's new item
    assert b.delete_items(["i1", "nope"]) == 1
    assert a.info()["items"] == 20 and all(
        r.item_id != "i1" for r in a.recommend("w", 20).items)
    assert a.delete_items(["i1"]) == 0  # already gone everywhere
    popular = b.recommend("stranger", 1)  # events through both count towards popularity
    assert popular.source == "popular"
    a.close(), b.close()
    c = _worker(model, db)  # a restarted worker replays the item log
    assert c.info()["items"] == 20 and c._state.items.slot("n1") >= 0
    assert c._state.items.slot("i1") < 0
    c.close()


def test_a_worker_with_another_model_re_encodes_logged_items(model: HashingModel,
                                                             tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    a = _worker(model, db)
    other = HashingModel(model.catalog, dim=256, seed=7)  # another version, other vectors
    b = _worker(other, db)
    a.upsert_items(pd.DataFrame([LIPSTICK]))
    assert b.similar("i0", 1).items  # b's next request applies the change
    slot = b._state.items.slot_of["n1"]
    expected = other.encode_items(pd.DataFrame([LIPSTICK]))
    assert abs(float(b._state.items.vectors[slot] @ expected[0]) -
               float(expected[0] @ expected[0])) < 1e-4
    a.close(), b.close()


def test_artifact_vectors_are_shared_memory_maps_and_never_written(trained_artifact: Path,
                                                                   tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import load_file

    from shelflm.serving.runtime import load_artifact

    path = trained_artifact / "item_vectors.safetensors"
    saved = load_file(str(path))
    model = load_artifact(trained_artifact)
    mapped = {"item_vectors": model.item_vectors, "text_vectors": model.text_vectors}
    assert sorted(mapped) == sorted(saved)
    assert all(isinstance(v, np.memmap) for v in mapped.values())
    assert all(np.array_equal(mapped[k], v) for k, v in saved.items())
    engine = Engine(model, SqliteEventStore(tmp_path / "e.sqlite"), ServingConfig(
        text_encoder="pytorch", user_tower="pytorch"))
    items = engine._state.items
    assert np.shares_memory(items.text, model.text_vectors)  # adopted, not copied
    engine.delete_items(["i0"])  # writes a zero text row: copy-on-write, the file keeps it
    engine.upsert_items(pd.DataFrame([{"item_id": "i1", "title": "blue lipstick"}]))
    engine.upsert_items(pd.DataFrame([{"item_id": "n9", "title": "hair oil"}]))  # grows
    assert engine.similar("i4", 3).items and len(items.ids) == 13
    engine.close()
    again = load_file(str(path))
    assert all(np.array_equal(again[k], v) for k, v in saved.items())


def test_a_new_artifact_keeps_its_vectors_for_rows_it_was_trained_on(model: HashingModel,
                                                                     tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    old = _worker(model, db)
    row = model.catalog.items.iloc[[3]].copy()
    old.upsert_items(row)  # logged unchanged under the old model
    old.upsert_items(pd.DataFrame([LIPSTICK]))  # a new item the next artifact has not seen
    old.close()
    trained = HashingModel(model.catalog, dim=256, seed=7)
    new = _worker(trained, db)
    slot = new._state.items.slot_of["i3"]
    assert (new._state.items.vectors[slot] == trained.item_vectors[3]).all()  # not re-encoded
    assert new._state.items.slot("n1") >= 0  # the new item is re-encoded by the new model
    new.close()


def _until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_reload_through_one_worker_reaches_the_other(make_artifact, tmp_path: Path) -> None:
    first, second = make_artifact("a"), make_artifact("b", seed=3)
    db = tmp_path / "events.sqlite"
    cfg = ServingConfig(store=StoreConfig(path=db), model_loader=LOADER)
    a, b = Engine.from_artifact(first, cfg), Engine.from_artifact(first, cfg)
    b.ingest([Event("u", "i0", "view", 1)])
    old = b.recommend("u", 3)
    assert old.source == "personal"
    version = a.reload(second)
    assert version != old.model_version and a.reload_generation == 1
    answers = []  # b keeps answering from its old model while it loads the new one aside
    _until(lambda: answers.append(b.recommend("u", 3)) or b.model_version == version)
    assert all(x.source == "personal" and x.items for x in answers)
    assert b.recommend("u", 3).model_version == version  # cached answers went with the swap
    info = b.info()
    assert info["artifact_dir"] == str(second.resolve()) and info["reload_generation"] == 1
    a.ingest([Event("u", "i15", "purchase", 2)])  # the new state keeps following the store
    assert "i15" not in {r.item_id for r in b.recommend("u", 20).items}
    a.close(), b.close()
    c = Engine.from_artifact(first, cfg)  # a restart serves the artifact it is given
    assert c.model_version == old.model_version and c.reload_generation == 1
    c.close()


def test_a_worker_that_comes_up_after_a_reload_follows_it(make_artifact,
                                                          tmp_path: Path) -> None:
    first, second = make_artifact("a"), make_artifact("b", seed=3)
    db = tmp_path / "events.sqlite"
    cfg = ServingConfig(store=StoreConfig(path=db), model_loader=LOADER)
    a = Engine.from_artifact(first, cfg, reload_start=0)  # launched with generation 0
    version = a.reload(second)  # answered by the first worker up, before the second is
    b = Engine.from_artifact(first, cfg, reload_start=0)
    _until(lambda: b.similar("i0", 2) and b.model_version == version)
    assert b.reload_generation == 1
    a.close(), b.close()


def test_a_reload_that_fails_in_a_follower_keeps_it_serving(make_artifact,
                                                           tmp_path: Path) -> None:
    first = make_artifact("a")
    db = tmp_path / "events.sqlite"
    cfg = ServingConfig(store=StoreConfig(path=db), model_loader=LOADER)
    a, b = Engine.from_artifact(first, cfg), Engine.from_artifact(first, cfg)
    a.store.log_reload(str(tmp_path / "gone"))  # as if the directory vanished after a reload
    b.recommend("u", 3)  # its change check starts the load, which fails
    _until(lambda: b.reload_generation == 1)
    assert b.info()["artifact_dir"] == str(first) and b.similar("i0", 2).items
    a.close(), b.close()


def test_an_upsert_indexes_its_own_rows_and_replays_others_in_log_order(
        model: HashingModel, tmp_path: Path) -> None:
    import numpy as np

    db = tmp_path / "events.sqlite"
    a, b = _worker(model, db), _worker(model, db)
    b.upsert_items(pd.DataFrame([LIPSTICK]))  # a has not looked since
    a.upsert_items(pd.DataFrame([{**LIPSTICK, "item_id": "n2", "price": None}]))
    assert a._state.item_mark == 2 and a._state.items.slot("n1") >= 0  # b's came first
    a.upsert_items(pd.DataFrame([{"item_id": "n3", "title": "argan oil shampoo"}]))
    assert a._state.item_mark == 3  # nothing between: indexed from the rows in hand
    replayed = _worker(model, db)  # ...and the log replays to the very same table
    for item in ("n1", "n2", "n3"):
        x, y = a._state.items, replayed._state.items
        sx, sy = x.slot_of[item], y.slot_of[item]
        assert np.array_equal(x.vectors[sx], y.vectors[sy]) and x.titles[sx] == y.titles[sy]
        assert x.categories[sx] == y.categories[sy] and x.in_stock[sx] == y.in_stock[sy]
        assert np.array_equal(x.price[sx], y.price[sy], equal_nan=True)
    assert a.similar("n3", 1).items[0].item_id == "i15"  # same text as argan oil shampoo
    a.close(), b.close(), replayed.close()
