"""Mean squared error for explicit ratings (the rating head's loss)."""

from __future__ import annotations

import torch
from torch import nn


class MSELoss(nn.Module):
    """Mean of (predicted - true rating)^2; shapes must match exactly (no silent broadcast)."""

    def forward(self, predicted: torch.Tensor, ratings: torch.Tensor) -> torch.Tensor:
        """(n,) predictions and (n,) ratings -> scalar loss."""
        if predicted.shape != ratings.shape:
            raise ValueError(
                f"MSELoss: predicted shape {tuple(predicted.shape)} != ratings shape "
                f"{tuple(ratings.shape)}"
            )
        return ((predicted - ratings.to(predicted.dtype)) ** 2).mean()
