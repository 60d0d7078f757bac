"""Test fixture: a real ShelfModel trained for seconds on 12 titled items, saved as an
artifact. tests/conftest.py builds the shared one once per session (`tiny_trained`,
`trained_artifact`); a test that needs other items or shoppers calls `train_tiny` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shelflm.data.schema import Catalog, Dataset, Interactions
from shelflm.data.splits import Split
from shelflm.encoders.encode import encode
from shelflm.models.artifact import save_artifact
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.item_text import TextSettings
from shelflm.models.modality_config import ModalityConfig
from shelflm.training.config import TrainConfig
from shelflm.training.recommender import ShelfRecommender
from toy_shop import toy_leave_one_out

TITLES = ["red lipstick", "pink lip gloss", "matte lip liner", "nude lipstick",
          "shampoo for dry hair", "hair conditioner", "argan hair oil", "hair mask",
          "sunscreen spf 50", "face moisturiser", "night cream", "eye cream"]
CATEGORIES = ["Lips"] * 4 + ["Hair"] * 4 + ["Skin"] * 4
COLD_ITEM = 11  # "eye cream": no training event, so its vector comes from its text alone


@dataclass
class TinyTrained:
    """The fitted recommender, the split and dataset it was fitted on, and its artifact."""

    rec: ShelfRecommender
    split: Split
    dataset: Dataset
    directory: Path


def group_shoppers(seed: int = 0) -> pd.DataFrame:
    """60 shoppers; shopper u views and buys the 4 items of group u % 3 in a random order."""
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"i{(u % 3) * 4 + k}", t, "view" if t % 2 else "purchase")
            for u in range(60) for t, k in enumerate(rng.permutation(4))]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"])


def train_tiny(directory: Path, titles: list[str] = TITLES,
               categories: list[str] = CATEGORIES, events: pd.DataFrame | None = None,
               train: TrainConfig | None = None, name: str = "tiny",
               text: TextSettings | None = None,
               items_config: ItemTowerConfig | None = None,
               modality_inputs: dict[str, np.ndarray] | None = None) -> TinyTrained:
    """Fit a 16-wide ShelfModel on `events` (default: group_shoppers()) over items i0..i{n-1}
    with the given titles and categories, item COLD_ITEM held out, and save it at `directory`
    (`modality_inputs`: the raw inputs of `items_config.modalities`, row i = item i)."""
    torch.set_num_threads(1)
    settings = text or TextSettings(item_format="{title}")
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(len(titles))], "title": titles,
                          "category": categories})
    events = group_shoppers() if events is None else events
    dataset = Dataset(name, Catalog.from_frame(items), Interactions.from_frame(events))
    split = toy_leave_one_out(dataset, cold_items=np.array([COLD_ITEM]))
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=16, max_len=6, dropout=0.1),
                              items_config or ItemTowerConfig(hidden=16, id_dropout=0.3))
    train = train or TrainConfig(epochs=3, batch_size=16, progress=False, id_lr_scale=1.0)
    rec = ShelfRecommender(config, train, encode(list(titles), settings.encoder))
    rec.modality_inputs = modality_inputs
    rec.fit(split)
    return TinyTrained(rec, split, dataset,
                       save_artifact(rec, directory, dataset.catalog, settings))


# An image-like vector that tells the shopper groups apart, and the shelf (category) name as
# a second text: the extra modalities of the multimodal tiny model.
TINY_MODALITIES = (ModalityConfig(name="image", kind="vector", width=4),
                   ModalityConfig(name="shelf", kind="text", source="category", width=384))
NO_IMAGE_ITEM = 3


def train_tiny_multimodal(directory: Path) -> tuple[TinyTrained, np.ndarray]:
    """The tiny model trained with TINY_MODALITIES, and its (12, 4) image vectors (item
    NO_IMAGE_ITEM has none: a NaN row)."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.eye(3, 4), 4, axis=0)  # the shopper groups of group_shoppers
    image = (groups + 0.1 * rng.normal(size=(12, 4))).astype(np.float32)
    image[NO_IMAGE_ITEM] = np.nan
    items = ItemTowerConfig(hidden=16, id_dropout=0.3, modalities=TINY_MODALITIES)
    trained = train_tiny(directory, items_config=items, modality_inputs={
        "image": image, "shelf": encode(CATEGORIES)})
    return trained, image
