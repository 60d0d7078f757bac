"""Full softmax cross-entropy over the whole catalog: the default while the catalog fits.

Scoring every item for every position is exact (no sampling bias) and is what lifts SASRec
far above its binary-loss numbers (Klenitskiy & Vasilev, RecSys 2023).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FullSoftmaxLoss(nn.Module):
    """Mean cross-entropy of each target against all items: -log softmax(u . I)[target]."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"FullSoftmaxLoss: temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(
        self, user: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """(n, d) user vectors, (n,) target indices, (N, d) item table -> scalar loss."""
        logits = user @ items.T / self.temperature
        return F.cross_entropy(logits, targets)
