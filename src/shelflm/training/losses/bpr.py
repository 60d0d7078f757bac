"""Bayesian personalised ranking: the target should outscore one random item (Rendle 2009)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BPRLoss(nn.Module):
    """-log sigmoid(u.i_target - u.i_negative), with one uniform negative per row."""

    def forward(
        self, user: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, d) users, (n,) targets, (N, d) item table -> scalar loss."""
        if negatives is None:
            negatives = torch.randint(0, items.shape[0], targets.shape, device=targets.device)
        pos = (user * items[targets]).sum(-1)
        neg = (user * items[negatives]).sum(-1)
        return -F.logsigmoid(pos - neg).mean()
