"""`ShelfRecommender`: the shelflm model as an evaluation `Recommender`, trained by `Trainer`.

A model does not train itself: `ShelfModel` (shelflm.models.shelf_model) is the torch
module, and this wrapper builds one for a split's catalog, hands it to the trainer and
scores full catalogs with it. `sasrec_id` builds the SASRec-ID baseline: the same user
tower and trainer with ID embeddings only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.item_graph import attribute_means, cooccurrence, fused, linked
from shelflm.models.item_text import unit_rows
from shelflm.models.item_tower import ItemTower, id_weights
from shelflm.models.shelf_model import ShelfModel
from shelflm.training.config import TrainConfig
from shelflm.training.continual import carry_item_rows
from shelflm.training.trainer import Trainer
from shelflm.training.transfer import (
    init_from_artifact,
    train_only_adaptor,
    trainable_counts,
)

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split


class ShelfRecommender:
    """Our model as an evaluation `Recommender`: text+ID item tower, causal user tower."""

    def __init__(
        self, config: ShelfModelConfig, train_config: TrainConfig,
        text_vectors: np.ndarray | None = None, name: str = "shelflm",
        tuner: nn.Module | None = None,
    ) -> None:
        if config.items.use_text and text_vectors is None and tuner is None:
            raise ValueError(f"{name}: the item tower uses text, so text_vectors (cached LM "
                             "vectors) or a PEFT tuner are required")
        self.tuner = tuner
        self.config, self.train_config, self.name = config, train_config, name
        self.text_vectors = text_vectors
        self.text_settings: object | None = None  # item_text.TextSettings of text_vectors
        # {name: (num_items, width)} raw inputs of config.items.modalities (NaN = missing),
        # row-aligned with the catalog (models/modality_inputs.py); saved with the artifact.
        self.modality_inputs: dict[str, np.ndarray] | None = None
        self.model: ShelfModel | None = None
        self.history: list[dict] = []
        self.trainable = (0, 0)  # (trainable, total) weights of the last fit
        self._table: torch.Tensor | None = None

    def build(self, train: Dataset) -> ShelfModel:
        """A fresh model for `train`'s catalog; items without training events get no ID,
        the others an ID part weighted by their event count (ItemTowerConfig.id_gate)."""
        counts = np.bincount(train.encoded()["item"].to_numpy(), minlength=train.num_items)
        tower = ItemTower(self.config.items, train.num_items, self.tower_input(train),
                          id_weights(counts, self.config.items.id_gate), tuner=self.tuner,
                          modality_inputs=self.modality_inputs)
        return ShelfModel(self.config, tower)

    def tower_input(self, train: Dataset) -> np.ndarray | None:
        """The LM vectors the item tower reads: with [model.items] graph, fused with the
        catalog's item graph (attributes, listed links) and the training sequences'
        co-occurrence."""
        items = self.config.items
        if self.text_vectors is None or items.graph <= 0:
            return self.text_vectors
        unit = unit_rows(np.asarray(self.text_vectors, np.float32))
        catalog = train.catalog
        extra = [*linked(catalog.items, catalog.ids, unit, tuple(items.graph_links)),
                 cooccurrence(train.sequences(), unit, items.graph_cooccurrence)]
        return fused(catalog.items, np.asarray(self.text_vectors, np.float32),
                     items.graph, attribute_means(catalog.items, unit), extra)

    def fit(self, split: Split) -> None:
        """Train on split.train with early stopping on split.valid NDCG@10."""
        torch.manual_seed(self.train_config.seed)
        self.model = self.build(split.train)
        cfg = self.train_config
        if cfg.init_from:
            init_from_artifact(self.model, cfg.init_from)
            if cfg.init_items:  # an update of the same shop: trained items keep their IDs
                carry_item_rows(self.model, Path(cfg.init_from), split.train.catalog)
        if cfg.train_only == "adaptor":
            train_only_adaptor(self.model)
        self.trainable = trainable_counts(self.model)
        self._table = None
        trainer = Trainer(self.train_config)
        self.history = trainer.fit(self, split)
        self.model.eval()

    def refresh(self) -> None:
        """Forget the cached item table (call after the weights change)."""
        self._table = None

    def item_table(self) -> torch.Tensor:
        """(N, H) item vectors in eval mode, cached between score calls."""
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit() first")
        if self._table is None:
            self.model.eval()
            with torch.no_grad():
                self._table = self.model.item_tower.all_items()
        return self._table

    def score(
        self, users: np.ndarray, histories: Sequence[np.ndarray],
        history_events: Sequence[np.ndarray],
    ) -> np.ndarray:
        """(n, num_items) inner-product scores of each history's user vector with every item."""
        table = self.item_table()
        user = self.model.user_vectors(histories, history_events, table)
        return (user @ table.T).cpu().numpy().astype(np.float32)


def sasrec_id(train_config: TrainConfig, hidden: int = 64, **sequence: object) -> ShelfRecommender:
    """The SASRec-ID baseline: same user tower and trainer, ID embeddings only."""
    config = ShelfModelConfig(
        SequenceEncoderConfig(hidden=hidden, **sequence),
        ItemTowerConfig(hidden=hidden, use_text=False, use_id=True, id_dropout=0.0),
    )
    return ShelfRecommender(config, train_config, None, name="sasrec-id")
