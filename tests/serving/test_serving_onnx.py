"""The ONNX fast path for queries and new items' text: on the artifact's own text settings it
matches the PyTorch vectors the artifact was made with (cosine >= 0.99), and the engine uses
it by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.runtime import load_artifact

pytestmark = pytest.mark.slow
QUERIES = ["a gift for a dad who hikes", "something for dry hair", "red lipstick", "x",
           "Vitamin C Serum 20% with Hyaluronic Acid, Brightening and Anti Aging Face Serum " * 4]
NEW = pd.DataFrame({"item_id": ["n1", "n2"], "title": ["argan hair oil", "matte red lipstick"],
                    "category": ["Hair", "Lips"], "price": [9.5, 4.0]})


@pytest.fixture
def onnx_cache() -> Path:
    from shelflm.encoders.onnx_encoder import default_cache_dir

    return default_cache_dir()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("kind", ["onnx", "onnx-int8"])
def test_onnx_matches_pytorch_on_the_artifacts_settings(trained_artifact: Path, kind: str) -> None:
    torch_model, fast = load_artifact(trained_artifact), load_artifact(trained_artifact)
    fast.use_text_encoder(kind)  # default cache dir: the session's temp SHELFLM_CACHE
    q_ref = np.stack([torch_model.encode_query(q) for q in QUERIES])
    q_fast = np.stack([fast.encode_query(q) for q in QUERIES])
    assert fast.text_encoder == kind  # no silent fall-back to PyTorch
    # int8 is opt-in: its noise weighs more on tiny texts ("x"), so a looser bar there.
    assert _cos(q_ref, q_fast).min() >= (0.99 if kind == "onnx" else 0.98)
    assert np.allclose(np.linalg.norm(q_fast, axis=1), 1, atol=1e-4)
    assert _cos(torch_model.encode_item_texts(NEW), fast.encode_item_texts(NEW)).min() >= 0.99
    ref_items = torch_model.encode_items(NEW)
    fast_items = fast.encode_items(NEW)
    # The trained head amplifies int8's text error (0.92 measured on this tiny model): the
    # retrieval vectors of new items are only guaranteed for fp32, the default.
    assert _cos(ref_items, fast_items).min() >= (0.99 if kind == "onnx" else 0.8)
    # The saved catalog vectors (PyTorch) and ONNX vectors of the same titles agree.
    saved = torch_model.text_vectors[:3]
    assert _cos(saved, fast.encode_item_texts(torch_model.catalog.items.iloc[:3])).min() >= 0.99


def test_engine_defaults_to_onnx_and_pytorch_stays_selectable(trained_artifact: Path,
                                                             onnx_cache: Path,
                                                             tmp_path: Path) -> None:
    store = StoreConfig(path=tmp_path / "events.sqlite")
    engine = Engine.from_artifact(trained_artifact, ServingConfig(store=store,
                                                                  onnx_cache_dir=onnx_cache))
    assert ServingConfig().text_encoder == "onnx"
    engine.upsert_items(NEW)
    assert engine.search("argan hair oil", 1).items[0].item_id in {"n1", "i6"}
    assert engine.info()["text_encoder"] == "onnx" and engine.info()["user_tower"] == "onnx"
    assert any(onnx_cache.rglob("model.onnx"))  # the export is cached on disk
    engine.close()
    slow = Engine.from_artifact(trained_artifact, ServingConfig(
        store=store, text_encoder="pytorch", onnx_cache_dir=onnx_cache))
    assert slow.info()["text_encoder"] == "pytorch"
    assert slow.search("argan hair oil", 2).items
    slow.close()


def test_unknown_encoder_is_refused(trained_artifact: Path) -> None:
    with pytest.raises(ValueError, match="encoder"):
        load_artifact(trained_artifact).use_text_encoder("tensorrt")
    with pytest.raises(ValueError, match="encoder"):
        ServingConfig(text_encoder="tensorrt")


def test_onnx_user_tower_equals_pytorch(trained_artifact: Path, tmp_path: Path) -> None:
    reference, fast = load_artifact(trained_artifact), load_artifact(trained_artifact)
    fast.use_user_tower("onnx", tmp_path)
    assert fast.user_tower == "onnx" and any((tmp_path / "user-tower").glob("*.onnx"))
    rng = np.random.default_rng(1)
    table = reference.item_vectors
    for n in [1, 4, reference.model.config.sequence.max_len + 3]:  # shorter and longer
        rows, events = rng.integers(0, len(table), n), rng.integers(0, 5, n)
        want = reference.user_vector(table[rows], events)
        assert np.allclose(fast.user_vector(table[rows], events), want, atol=1e-5)
    again = load_artifact(trained_artifact)
    again.use_user_tower("onnx", tmp_path)  # the cached export is reused
    assert again.user_tower == "onnx"
    with pytest.raises(ValueError, match="user_tower"):
        again.use_user_tower("tvm")
