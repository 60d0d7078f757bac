"""Training losses, one per file; `build_ranking_loss` picks one by name for the trainer."""

from __future__ import annotations

import numpy as np
from torch import nn

from shelflm.training.config import RANKING_LOSSES
from shelflm.training.losses.bpr import BPRLoss
from shelflm.training.losses.full_softmax import FullSoftmaxLoss
from shelflm.training.losses.mse import MSELoss
from shelflm.training.losses.sampled_softmax import SampledSoftmaxLoss

__all__ = ["BPRLoss", "FullSoftmaxLoss", "MSELoss", "SampledSoftmaxLoss", "build_ranking_loss"]


def build_ranking_loss(
    name: str, popularity: np.ndarray | None = None, num_negatives: int = 256,
    candidates: np.ndarray | None = None,
) -> nn.Module:
    """A ranking loss by name; sampled softmax draws negatives by popularity ** 0.75.

    `candidates` (bool over the catalog) limits the softmax losses' negatives to those items.
    """
    if name == "full_softmax":
        return FullSoftmaxLoss(candidates=candidates)
    if name == "bpr":
        return BPRLoss()
    if name == "sampled_softmax":
        if popularity is None:
            raise ValueError("sampled_softmax needs item popularity for its proposal")
        proposal = (np.asarray(popularity, dtype=np.float64) + 1.0) ** 0.75
        if candidates is not None:
            proposal = proposal * np.asarray(candidates, dtype=bool)
        return SampledSoftmaxLoss(proposal, num_negatives)
    raise ValueError(f"unknown ranking loss {name!r}; expected one of {RANKING_LOSSES}")
