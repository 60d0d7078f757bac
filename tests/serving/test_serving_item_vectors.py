"""PUT /items with modality vectors on a model trained with an image-like modality: accepted
with or without them, refused with a 422 naming the field when a vector does not fit, and
replayed to other workers (the item log carries the vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shelflm.serving.config import ApiConfig, ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.runtime import load_artifact
from shelflm.serving.store.sqlite_store import SqliteEventStore
from tiny_artifact import CATEGORIES, COLD_ITEM, TITLES, train_tiny_multimodal

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": "k"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    model, image = train_tiny_multimodal(tmp_path_factory.mktemp("mm") / "model")
    return model.directory, image


def _config(tmp_path: Path) -> ServingConfig:
    return ServingConfig(store=StoreConfig(path=tmp_path / "events.sqlite"),
                         text_encoder="pytorch", user_tower="pytorch")


def _item(item_id: str, **extra: object) -> dict:
    """The cold item's product, under another id."""
    return {"item_id": item_id, "title": TITLES[COLD_ITEM], "category": CATEGORIES[COLD_ITEM],
            **extra}


def test_put_items_with_and_without_vectors(trained: tuple[Path, np.ndarray],
                                            tmp_path: Path) -> None:
    directory, image = trained
    engine = Engine.from_artifact(directory, _config(tmp_path))
    client = TestClient(create_app(engine, ApiConfig(api_keys=["k"])))
    vector = image[COLD_ITEM].tolist()
    put = client.put("/items", headers=KEY, json={"items": [
        _item("with", vectors={"image": vector}), _item("without")]})
    assert put.status_code == 200 and put.json() == {"upserted": ["with", "without"]}
    state = engine._state  # the indexed vectors themselves
    row = state.items.vectors
    trained_vector = row[state.items.slot(f"i{COLD_ITEM}")]
    assert np.allclose(row[state.items.slot("with")], trained_vector, atol=1e-4)
    assert np.isfinite(row[state.items.slot("without")]).all()
    assert not np.allclose(row[state.items.slot("without")], trained_vector, atol=1e-3)
    # The log row carries the vectors; another worker, even under another model version,
    # encodes the item the same.
    logged = {c.item_id: c.row for c in engine.store.item_changes_since(0)}
    assert logged["with"]["vectors"] == {"image": vector} and "vectors" not in logged["without"]
    engine.close()
    other = load_artifact(directory)
    other.version = "retrained"
    replayed = Engine(other, SqliteEventStore(tmp_path / "events.sqlite"), _config(tmp_path))
    items = replayed._state.items
    assert np.allclose(items.vectors[items.slot("with")], trained_vector, atol=1e-4)
    replayed.close()


@pytest.mark.parametrize(("vectors", "field", "words"), [
    ({"sound": [1.0, 2.0]}, "items[0].vectors.sound", "unknown modality 'sound'"),
    ({"image": [1.0, 2.0]}, "items[0].vectors.image", "has 2 values"),
    ({"image": [1.0, "x", 2.0, 3.0]}, "items[0].vectors.image[1]", "number"),
    ({"image": []}, "items[0].vectors.image", "at least 1"),
])
def test_bad_vectors_are_a_422_naming_the_field(trained: tuple[Path, np.ndarray], tmp_path: Path,
                                                vectors: dict, field: str, words: str) -> None:
    engine = Engine.from_artifact(trained[0], _config(tmp_path))
    client = TestClient(create_app(engine, ApiConfig(api_keys=["k"])))
    put = client.put("/items", headers=KEY, json={"items": [_item("bad", vectors=vectors)]})
    assert put.status_code == 422, put.text
    assert put.json()["field"] == field and words in put.json()["error"]
    nan = ('{"items": [{"item_id": "bad", "title": "eye cream", '
           '"vectors": {"image": [1.0, NaN, 2.0, 3.0]}}]}')
    put = client.put("/items", headers={**KEY, "Content-Type": "application/json"}, content=nan)
    assert put.status_code == 422 and put.json()["field"].startswith("items[0].vectors.image")
    assert engine.store.item_changes_since(0) == []  # nothing was logged
    engine.close()


def test_a_text_only_model_refuses_vectors(trained_artifact: Path, tmp_path: Path) -> None:
    engine = Engine.from_artifact(trained_artifact, _config(tmp_path))
    client = TestClient(create_app(engine, ApiConfig(api_keys=["k"])))
    put = client.put("/items", headers=KEY, json={"items": [
        _item("x", vectors={"image": [1.0, 2.0, 3.0, 4.0]})]})
    assert put.status_code == 422 and "trained on text alone" in put.json()["error"]
    engine.close()
