"""The shelflm recommender: item tower + causal user tower, scored by inner product.

`ShelfModel` is the torch module; `ShelfRecommender` wraps it as an evaluation
`Recommender` (fit on a split, score full catalogs). `sasrec_id` builds the SASRec-ID
baseline: the same user tower and trainer with ID embeddings only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig
from shelflm.models.item_tower import ItemTower
from shelflm.models.sequence import SequenceEncoder

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split
    from shelflm.training.config import TrainConfig


def pad_left(
    seqs: Sequence[np.ndarray], pad: int, max_len: int
) -> np.ndarray:
    """(B, L) int64 array of each sequence's last <= max_len entries, left-padded with `pad`."""
    length = max(1, min(max_len, max((len(s) for s in seqs), default=1)))
    out = np.full((len(seqs), length), pad, dtype=np.int64)
    for row, s in enumerate(seqs):
        s = np.asarray(s, dtype=np.int64)[-length:]
        if len(s):
            out[row, length - len(s):] = s
    return out


class ShelfModel(nn.Module):
    """Item tower + user tower. Item index N is padding and N + 1 the augmentation mask."""

    def __init__(self, config: ShelfModelConfig, item_tower: ItemTower) -> None:
        super().__init__()
        self.config = config
        self.item_tower = item_tower
        self.encoder = SequenceEncoder(config.sequence)
        self.mask_vector = nn.Parameter(torch.randn(config.sequence.hidden) * 0.02)

    @property
    def num_items(self) -> int:
        return self.item_tower.num_items

    @property
    def pad_index(self) -> int:
        return self.item_tower.num_items

    @property
    def mask_index(self) -> int:
        return self.item_tower.num_items + 1

    def input_table(self, table: torch.Tensor) -> torch.Tensor:
        """Item table with the padding (zero) and mask rows appended: (N + 2, H)."""
        pad = torch.zeros(1, table.shape[1], device=table.device)
        return torch.cat([table, pad, self.mask_vector.unsqueeze(0)], dim=0)

    def states(
        self, items: torch.Tensor, events: torch.Tensor, table: torch.Tensor,
        input_delta: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, L) padded item indices and events -> (B, L, H) user states per position.

        `table` may be a subset of the catalog (sampled training): indices then refer to its
        rows, and its padding and mask rows are len(table) and len(table) + 1.
        """
        valid = items != table.shape[0]
        x = self.input_table(table)[items]
        if input_delta is not None:
            x = x + input_delta * valid.unsqueeze(-1)
        return self.encoder(x, events, valid)

    def user_vectors_from_inputs(
        self, vectors: torch.Tensor, events: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """(B, L, H) left-padded history vectors -> (B, H) user vectors (serving path)."""
        return self.encoder(vectors, events, valid)[:, -1]

    @torch.no_grad()
    def user_vectors(
        self, histories: Sequence[np.ndarray], events: Sequence[np.ndarray],
        table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, H) user vectors for time-ordered histories of item indices (eval mode)."""
        table = self.item_tower.all_items() if table is None else table
        max_len = self.config.sequence.max_len
        items = torch.from_numpy(pad_left(histories, self.pad_index, max_len)).to(table.device)
        ev = pad_left(events, 0, max_len)
        ev = torch.from_numpy(np.clip(ev, 0, self.config.sequence.num_event_types - 1))
        ev = ev.to(table.device)
        return self.states(items, ev, table)[:, -1]


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
        self.text_settings: object | None = None  # artifact.TextSettings that made text_vectors
        self.model: ShelfModel | None = None
        self.history: list[dict] = []
        self._table: torch.Tensor | None = None

    def build(self, train: Dataset) -> ShelfModel:
        """A fresh model for `train`'s catalog; items without training events get no ID."""
        seen = np.zeros(train.num_items, dtype=np.float32)
        seen[train.encoded()["item"].to_numpy()] = 1.0
        tower = ItemTower(self.config.items, train.num_items, self.text_vectors, seen,
                          tuner=self.tuner)
        return ShelfModel(self.config, tower)

    def fit(self, split: Split) -> None:
        """Train on split.train with early stopping on split.valid NDCG@10."""
        from shelflm.training.trainer import Trainer

        torch.manual_seed(self.train_config.seed)
        self.model = self.build(split.train)
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
