"""Tiny shop fixtures for the serving tests: a hand-written catalog and the hashing model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from shelflm.data.schema import Catalog
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.hashing_model import HashingModel, save_hashing_artifact
from shelflm.serving.store.memory_store import MemoryEventStore

PRODUCTS = {
    "Beauty > Makeup > Lips": ["red matte lipstick", "pink gloss lipstick", "nude lip liner",
                               "berry lip stain", "clear lip balm"],
    "Beauty > Makeup > Eyes": ["black mascara volume", "brown eyeliner pencil",
                               "eyeshadow palette neutral", "waterproof mascara", "brow gel"],
    "Beauty > Skin > Face": ["hydrating face cream", "vitamin c serum", "night face cream",
                             "gentle face cleanser", "spf 50 sunscreen"],
    "Beauty > Hair": ["argan oil shampoo", "curl cream conditioner", "dry shampoo spray",
                      "hair mask repair", "heat protect spray"],
}


TITLES = ["red lipstick", "pink lip gloss", "matte lip liner", "nude lipstick",
          "shampoo for dry hair", "hair conditioner", "argan hair oil", "hair mask",
          "sunscreen spf 50", "face moisturiser", "night cream", "eye cream"]


def tiny_catalog() -> Catalog:
    """20 items, 4 categories, prices 5..24, item i5 out of stock."""
    rows = []
    for cat, titles in PRODUCTS.items():
        for title in titles:
            i = len(rows)
            rows.append({"item_id": f"i{i}", "title": title, "brand": "acme", "category": cat,
                         "price": 5.0 + i,
                         "attributes": '{"in_stock": false}' if i == 5 else ""})
    return Catalog.from_frame(pd.DataFrame(rows))


@pytest.fixture(scope="session", autouse=True)
def _onnx_exports_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory):
    """Engines default to the ONNX encoder: export once per session, never into ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHELFLM_CACHE", str(tmp_path_factory.mktemp("shelflm-cache")))
        yield


@pytest.fixture
def model() -> HashingModel:
    return HashingModel(tiny_catalog(), dim=256)


@pytest.fixture
def engine(model: HashingModel) -> Engine:
    return Engine(model, MemoryEventStore(), ServingConfig())


@pytest.fixture
def artifact(tmp_path: Path, model: HashingModel) -> Path:
    return save_hashing_artifact(model, tmp_path / "artifact")


@pytest.fixture
def make_artifact(tmp_path: Path):
    """Write a hashing-model artifact of the tiny shop: make_artifact(name, dim=64, seed=0)."""

    def make(name: str, dim: int = 64, seed: int = 0) -> Path:
        return save_hashing_artifact(HashingModel(tiny_catalog(), dim, seed), tmp_path / name)

    return make


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ShelfModel trained for seconds on 12 titled items, saved as an artifact."""
    out = tmp_path_factory.mktemp("trained") / "model"
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
    return save_artifact(rec, out, dataset.catalog, TextSettings(item_format="{title}"))
