"""POST /admin/reload hardened: only folders inside the models directory load, every folder
that does not load is a 4xx while the old model serves on, no answer says anything about
paths outside; and a reload keeps the user cache warm, for the new model."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from hashing_model import LOADER, HashingModel, load_hashing_artifact, save_hashing_artifact
from shelflm.data.schema import Catalog
from shelflm.serving.config import ApiConfig, ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.app import create_app
from shelflm.serving.reloads import OUTSIDE
from shelflm.serving.store import Event, ItemChange
from shelflm.serving.store.memory_store import MemoryEventStore

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def models(tmp_path: Path, make_artifact) -> Path:
    """tmp_path/models holding artifacts a (served at start) and b; tmp_path/outside holds a
    valid artifact too, which no reload may reach."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name, seed in (("a", 0), ("b", 3), ("outside", 5)):
        make_artifact(name, seed=seed)
    for name in ("a", "b"):
        shutil.move(tmp_path / name, folder / name)
    return folder


def _engine(first: Path, db: Path | None = None, **config) -> Engine:
    store = StoreConfig(path=db) if db else StoreConfig(backend="memory")
    return Engine.from_artifact(first, ServingConfig(store=store, model_loader=LOADER, **config))


def _broken(models: Path, name: str, damage) -> str:
    shutil.copytree(models / "b", models / name)
    damage(models / name)
    return name


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


BREAKAGES = {
    "config_is_a_list": lambda d: (d / "config.json").write_text("[]"),
    "truncated_safetensors": lambda d: _truncate(d / "item_vectors.safetensors"),
    "config_not_json": lambda d: (d / "config.json").write_text("{"),
    "no_config": lambda d: (d / "config.json").unlink(),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_folder_that_does_not_load_is_a_422_and_the_old_model_serves_on(
        models: Path, breakage: str) -> None:
    engine = _engine(models / "a")
    client = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"])))
    old = engine.model_version
    name = _broken(models, breakage, BREAKAGES[breakage])
    for given in (str(models / name), name):  # absolute, or relative to the models dir
        r = client.post("/admin/reload", json={"artifact_dir": given}, headers=KEY)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["field"] == "artifact_dir" and f"cannot load {name}" in body["error"]
        assert str(models) not in body["error"]  # paths shown relative to the models dir
    assert engine.model_version == old and engine.reload_generation == 0
    assert client.get("/items/i0/similar", params={"k": 2}).status_code == 200


def test_a_broken_trained_artifact_is_refused_with_the_old_model_serving_on(
        models: Path, trained_artifact: Path) -> None:
    engine = Engine(load_hashing_artifact(models / "a"), MemoryEventStore(), ServingConfig(
        model_loader="shelflm.serving.runtime:load_artifact", models_dir=models))
    old = engine.model_version
    for name, damage in (("list", lambda d: (d / "config.json").write_text("[]")),
                         ("cut", lambda d: _truncate(d / "model.safetensors"))):
        shutil.copytree(trained_artifact, models / name)
        damage(models / name)
        with pytest.raises(RequestError, match=f"cannot load {name}: ") as refused:
            engine.reload(name)
        assert refused.value.kind == "invalid" and str(models) not in str(refused.value)
    assert engine.model_version == old and engine.similar("i0", 2).items


def test_paths_outside_the_models_dir_are_refused_alike(models: Path) -> None:
    outside = models.parent / "outside"  # a valid artifact
    (models / "link").symlink_to(outside, target_is_directory=True)
    (models / "b" / "up").symlink_to(models.parent, target_is_directory=True)
    engine = _engine(models / "a")
    client = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"])))
    old = engine.model_version
    escapes = [str(outside), str(models.parent / "nowhere"), "/etc", "/definitely/not/here",
               "../outside", "../nowhere", str(models / ".." / "outside"), "a/../../outside",
               "link", "link/../nowhere", "b/up/outside", "b/up/nowhere"]
    bodies = set()
    for given in escapes:
        r = client.post("/admin/reload", json={"artifact_dir": given}, headers=KEY)
        assert r.status_code == 422, (given, r.text)
        bodies.add(r.text)
    # One answer whatever lies outside: nothing tells an existing folder from a missing one.
    assert bodies == {json.dumps({"error": f"artifact_dir: {OUTSIDE}",
                                  "field": "artifact_dir"})}
    assert engine.model_version == old and engine.reload_generation == 0


def test_a_missing_folder_inside_is_a_404_named_relative_to_the_models_dir(
        models: Path) -> None:
    engine = _engine(models / "a")
    client = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"])))
    for given in (str(models / "nope"), "nope", "b/../nope"):
        r = client.post("/admin/reload", json={"artifact_dir": given}, headers=KEY)
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "artifact_dir: nope is not a folder"
    assert engine.reload_generation == 0 and engine.similar("i0", 2).items


def test_a_path_the_os_cannot_use_is_a_422(models: Path) -> None:
    (models / "loop").symlink_to(models / "loop")
    engine = _engine(models / "a")
    for given in ("a\x00b", "x" * 5000, "loop", "loop/deeper"):
        with pytest.raises(RequestError, match="not a usable folder path") as refused:
            engine.reload(given)
        assert refused.value.kind == "invalid"
    assert engine.reload_generation == 0


def test_folders_inside_load_by_absolute_relative_or_symlinked_path(models: Path,
                                                                    tmp_path: Path) -> None:
    (models / "current").symlink_to(models / "b", target_is_directory=True)
    engine = _engine(models / "a")
    versions = {engine.reload(given) for given in ("b", str(models / "current"))}
    assert len(versions) == 1 and engine.info()["artifact_dir"] == str(models / "b")
    elsewhere = _engine(models / "a", models_dir=tmp_path)  # a configured models dir
    assert elsewhere.reload("outside") == elsewhere.reload(tmp_path / "outside")


def test_an_engine_without_a_models_dir_refuses_every_reload(models: Path) -> None:
    engine = Engine(load_hashing_artifact(models / "a"), MemoryEventStore(),
                    ServingConfig(model_loader=LOADER))  # no start folder, no models_dir
    with pytest.raises(RequestError, match="reloads are off") as refused:
        engine.reload(models / "b")
    assert refused.value.field == "artifact_dir"


# -- the user cache across a reload ---------------------------------------------------------

USERS = [f"u{n}" for n in range(30)]


def _shoppers(engine: Engine) -> None:
    engine.ingest([Event(u, f"i{(n * 7) % 20}", "view", n) for n, u in enumerate(USERS)])
    engine.ingest([Event(u, f"i{(n * 3) % 20}", "click", 100 + n) for n, u in enumerate(USERS)])


def _answer(engine: Engine, user: str) -> list[tuple[str, float]]:
    return [(r.item_id, round(r.score, 5)) for r in engine.recommend(user, 5).items]


def test_a_reload_keeps_the_warm_users_computed_by_the_new_model(models: Path,
                                                                 tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    engine = _engine(models / "a", db, refresh_on_ingest=0)
    _shoppers(engine)
    assert engine.warm_up() == len(USERS) and engine.info()["user_cache"]["size"] == len(USERS)
    old = {u: _answer(engine, u) for u in USERS}
    version = engine.reload("b")
    assert engine.info()["user_cache"]["size"] == len(USERS)  # warm right after the swap
    misses = engine.info()["user_cache"]["misses"]
    fresh = _engine(models / "b", db)  # the new model computing every user from scratch
    for u in USERS:
        assert _answer(engine, u) == _answer(fresh, u)
    assert engine.info()["user_cache"]["misses"] == misses  # every one a cache hit
    assert engine.recommend(USERS[0], 5).model_version == version == fresh.model_version
    assert any(old[u] != _answer(fresh, u) for u in USERS)  # the models do differ
    engine.close(), fresh.close()


def _store_reads(engine: Engine) -> list[str]:
    """The users whose history the engine reads from its store from now on."""
    reads, recent = [], engine.store.recent
    engine.store.recent = lambda user, *a, **k: (reads.append(user), recent(user, *a, **k))[1]
    return reads


def test_a_reload_carries_cached_users_without_reading_the_store(models: Path,
                                                                 tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    engine = _engine(models / "a", db, refresh_on_ingest=0)
    _shoppers(engine)
    engine.warm_up()
    engine.ingest([Event("u2", "i9", "view", 500)])  # u2's cached state goes: read again
    reads = _store_reads(engine)
    engine.reload("b")
    assert reads == ["u2"]  # the 29 others kept history and exclusions, new vectors only
    fresh = _engine(models / "b", db)
    assert [_answer(engine, u) for u in USERS] == [_answer(fresh, u) for u in USERS]
    engine.close(), fresh.close()


def test_a_reload_onto_a_catalog_with_new_items_reads_every_user_again(
        models: Path, tmp_path: Path) -> None:
    rows = load_hashing_artifact(models / "a").catalog.items.to_dict("records")
    bigger = Catalog.from_frame(pd.DataFrame([*rows, {**rows[0], "item_id": "i20"}]))
    save_hashing_artifact(HashingModel(bigger, 64, 3), models / "bigger")
    db = tmp_path / "events.sqlite"
    engine = _engine(models / "a", db, refresh_on_ingest=0)
    _shoppers(engine)
    engine.store.append([Event("u0", "i20", "view", 900)])  # an item only the new one has
    engine.warm_up()
    reads = _store_reads(engine)
    engine.reload("bigger")
    assert sorted(reads) == sorted(USERS)  # a history may hold events the old one dropped
    fresh = _engine(models / "bigger", db)
    assert [_answer(engine, u) for u in USERS] == [_answer(fresh, u) for u in USERS]
    engine.close(), fresh.close()


def test_what_is_stored_while_a_reload_loads_still_counts(models: Path) -> None:
    engine = _engine(models / "a", refresh_on_ingest=0)
    _shoppers(engine)
    engine.warm_up()
    load = engine._reloads._load

    def load_then_more_happens(directory: Path):
        prepared = load(directory)  # the warm users were read; now, before the swap:
        engine.store.append([Event("u1", "i16", "purchase", 999)])
        return prepared

    engine._reloads._load = load_then_more_happens
    engine.reload("b")
    assert engine.info()["user_cache"]["size"] == len(USERS) - 1  # u1's state went
    assert "i16" not in {r.item_id for r in engine.recommend("u1", 20).items}  # bought now
    engine._reloads._load = lambda d: (load(d), engine.store.log_items(
        [ItemChange("i3", deleted=True)]))[0]
    engine.reload("a")  # an item in u9's history went meanwhile: u9's state is stale
    misses = engine.info()["user_cache"]["misses"]
    engine.recommend("u0", 3)  # u0 never saw i3: still cached
    assert engine.info()["user_cache"]["misses"] == misses
    engine.recommend("u9", 3)
    assert engine.info()["user_cache"]["misses"] == misses + 1


def _until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_following_worker_swaps_in_its_warm_users_too(models: Path, tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    a, b = _engine(models / "a", db), _engine(models / "a", db, refresh_on_ingest=0)
    _shoppers(a)
    assert b.warm_up() == len(USERS)
    version = a.reload("b")
    _until(lambda: b.similar("i0", 1) and b.model_version == version)
    assert b.info()["user_cache"]["size"] == len(USERS)
    misses = b.info()["user_cache"]["misses"]
    assert [_answer(b, u) for u in USERS] == [_answer(a, u) for u in USERS]
    assert b.info()["user_cache"]["misses"] == misses
    a.close(), b.close()
