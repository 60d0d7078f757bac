"""The engine on a real (tiny) trained artifact through the default loader, load_artifact:
the trained model plugs in where the hashing model stood, text path included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event

pytestmark = pytest.mark.slow
TITLES = ["red lipstick", "pink lip gloss", "matte lip liner", "nude lipstick",
          "shampoo for dry hair", "hair conditioner", "argan hair oil", "hair mask",
          "sunscreen spf 50", "face moisturiser", "night cream", "eye cream"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    from shelflm.data.schema import Catalog, Dataset, Interactions
    from shelflm.encoders.lm import load_language_model, mean_pool
    from shelflm.models.artifact import TextSettings, save_artifact
    from shelflm.models.item_tower import ItemTowerConfig
    from shelflm.models.sequence import SequenceEncoderConfig
    from shelflm.models.shelf_model import ShelfModelConfig, ShelfRecommender
    from shelflm.training.toy import toy_leave_one_out
    from shelflm.training.trainer import TrainConfig

    torch.set_num_threads(1)
    tok, lm = load_language_model()
    with torch.no_grad():
        b = tok(TITLES, padding=True, truncation=True, max_length=64, return_tensors="pt")
        text = torch.nn.functional.normalize(
            mean_pool(lm(**b).last_hidden_state, b["attention_mask"]), dim=-1).numpy()
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(12)], "title": TITLES,
                          "category": ["Lips"] * 4 + ["Hair"] * 4 + ["Skin"] * 4})
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{(u % 3) * 4 + k}", t, "view" if t % 2 else "purchase")
            for u in range(60) for t, k in enumerate(rng.permutation(4))]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"])
    dataset = Dataset("tiny", Catalog.from_frame(items), Interactions.from_frame(events))
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=16, max_len=6, dropout=0.1),
                              ItemTowerConfig(hidden=16, id_dropout=0.3))
    rec = ShelfRecommender(config, TrainConfig(epochs=3, batch_size=16, progress=False,
                                                 id_lr_scale=1.0), text)
    rec.fit(toy_leave_one_out(dataset, cold_items=np.array([11])))
    return save_artifact(rec, tmp_path_factory.mktemp("art") / "model", dataset.catalog,
                         TextSettings(item_format="{title}"))


def test_engine_serves_a_trained_artifact(artifact: Path, tmp_path: Path) -> None:
    engine = Engine.from_artifact(artifact, ServingConfig(
        store=StoreConfig(path=tmp_path / "events.sqlite")))
    assert engine.info()["items"] == 12 and engine.recommend("new", 3).source == "popular"
    engine.ingest([Event("u", "i4", "view", 1), Event("u", "i5", "purchase", 2)])
    ans = engine.recommend("u", 4)
    assert ans.source == "personal" and len(ans.items) == 4
    assert "i5" not in {r.item_id for r in ans.items}  # bought
    assert all(r.because["item_id"] in {"i4", "i5"} for r in ans.items)
    engine.upsert_items(pd.DataFrame([{"item_id": "n1", "title": "argan hair oil",
                                       "category": "Hair"}]))
    assert engine.similar("i6", 1).items[0].item_id == "n1"  # same text, same vector
    assert "n1" in {r.item_id for r in engine.search("argan hair oil", 2).items}
    engine.close()
