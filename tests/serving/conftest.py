"""Tiny shop fixtures for the serving tests: a hand-written catalog and the hashing model
(the trained `trained_artifact` is tests/conftest.py's shared one)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hashing_model import HashingModel, save_hashing_artifact
from shelflm.data.schema import Catalog
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine
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
