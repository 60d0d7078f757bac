"""Full softmax cross-entropy over the whole catalog: the default while the catalog fits.

Scoring every item for every position is exact (no sampling bias) and is what lifts SASRec
far above its binary-loss numbers (Klenitskiy & Vasilev, RecSys 2023).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class FullSoftmaxLoss(nn.Module):
    """Mean cross-entropy of each target against all items: -log softmax(u . I)[target]."""

    def __init__(
        self, temperature: float = 1.0, candidates: np.ndarray | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"FullSoftmaxLoss: temperature must be positive, got {temperature}")
        self.temperature = temperature
        # Items outside `candidates` (bool over the catalog) never enter the softmax: items
        # with no training events would otherwise only ever be pushed down, from their text
        # alone, which buries cold items at serving time.
        mask = None
        if candidates is not None:
            mask = torch.as_tensor(np.asarray(candidates), dtype=torch.bool)
        if mask is not None and (mask.ndim != 1 or not mask.any()):
            raise ValueError("FullSoftmaxLoss: candidates must be a 1-d bool mask with a True")
        self.register_buffer("candidates", mask)

    def forward(
        self, user: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """(n, d) user vectors, (n,) target indices, (N, d) item table -> scalar loss."""
        logits = user @ items.T / self.temperature
        if self.candidates is not None:
            if len(self.candidates) != items.shape[0]:
                raise ValueError(f"FullSoftmaxLoss: {len(self.candidates)} candidates for a "
                                 f"table of {items.shape[0]} items")
            logits = logits.masked_fill(~self.candidates, float("-inf"))
        return F.cross_entropy(logits, targets)
