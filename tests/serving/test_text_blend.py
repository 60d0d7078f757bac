"""The LM similarity blended into the score: one inner product, any ServingModel inside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashing_model import HashingModel
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore
from shelflm.serving.text_blend import TextBlended


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_the_blended_score_is_the_model_score_plus_weighted_text_cosine(model) -> None:
    blend = TextBlended(model, 2.0)
    assert blend.dim == model.dim + model.text_vectors.shape[1]
    history = blend.item_vectors[[0, 3]]
    events = np.zeros(2, np.int64)
    scores = blend.item_vectors @ blend.user_vector(history, events)
    inner = model.item_vectors @ model.user_vector(model.item_vectors[[0, 3]], events)
    text = _unit(model.text_vectors) @ _unit(_unit(model.text_vectors[[0, 3]]).mean(0))
    assert np.allclose(scores, inner + 2.0 * text, atol=1e-4)
    same = model.catalog.items.iloc[[0]]  # item 0's row again: its vector again
    assert np.allclose(blend.encode_items(same)[0], blend.item_vectors[0], atol=1e-5)
    assert not blend.user_vector(np.zeros((0, blend.dim), np.float32), events[:0]).any()
    with pytest.raises(ValueError, match="history must be"):
        blend.user_vector(history[:, :5], events)
    with pytest.raises(ValueError, match="> 0"):
        TextBlended(model, 0.0)


def test_the_engine_serves_a_blended_model(model: HashingModel) -> None:
    engine = Engine(model, MemoryEventStore(), ServingConfig(text_weight=5.0))
    assert engine.info()["dim"] == model.dim + model.text_vectors.shape[1]
    engine.ingest([Event("u", "i0", "view", 1)])  # red matte lipstick
    top = engine.recommend("u", 3)
    assert top.source == "personal" and "Lips" in top.items[0].category  # text decides
    engine.upsert_items(pd.DataFrame([{"item_id": "n1", "title": "red matte lipstick",
                                       "category": "Beauty > Makeup > Lips"}]))
    assert engine.recommend("u", 1).items[0].item_id == "n1"  # a new item, same footing
    with pytest.raises(ValueError, match="text_weight"):
        ServingConfig(text_weight=-1)
