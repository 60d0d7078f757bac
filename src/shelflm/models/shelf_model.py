"""The shelflm model: item tower + causal user tower, scored by inner product.

`ShelfModel` is the torch module. It does not train itself: `shelflm.training.recommender`
wraps it as an evaluation `Recommender` whose `fit` hands it to the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from shelflm.models.config import ShelfModelConfig
from shelflm.models.item_tower import ItemTower
from shelflm.models.sequence import SequenceEncoder


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
