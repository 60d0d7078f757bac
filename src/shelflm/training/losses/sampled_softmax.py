"""Sampled softmax with log-Q correction, for catalogs too large to score in full.

Negatives are drawn from a proposal q (e.g. popularity ** alpha), shared by the batch.
Subtracting log q from every candidate's logit makes the sampled loss an unbiased-in-the-
limit estimate of full softmax (Bengio & Senecal 2008; Yi et al., RecSys 2019); without it,
popular items are over-penalised. Accidental hits (a negative equal to the row's target)
are masked out.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SampledSoftmaxLoss(nn.Module):
    """Cross-entropy of each target against `num_negatives` items drawn from `proposal`."""

    def __init__(
        self, proposal: np.ndarray | torch.Tensor, num_negatives: int = 256,
        log_q_correction: bool = True,
    ) -> None:
        super().__init__()
        q = torch.as_tensor(np.asarray(proposal), dtype=torch.float64)
        if q.ndim != 1 or (q < 0).any() or q.sum() <= 0:
            raise ValueError("SampledSoftmaxLoss: proposal must be a 1-d non-negative, non-zero "
                             "vector over the catalog")
        if num_negatives < 1:
            raise ValueError(f"SampledSoftmaxLoss: num_negatives must be >= 1, got {num_negatives}")
        q = q / q.sum()
        self.register_buffer("log_q", torch.log(q.clamp(min=1e-30)).float())
        self.register_buffer("q", q.float())
        self.num_negatives = num_negatives
        self.log_q_correction = log_q_correction

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the shared negatives (with replacement) from the proposal."""
        return torch.multinomial(self.q, self.num_negatives, replacement=True,
                                 generator=generator)

    def logits(
        self, user: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
        negatives: torch.Tensor,
    ) -> torch.Tensor:
        """(n, 1 + num_negatives) corrected logits; column 0 is the target."""
        return self.logits_from_vectors(user, items[targets], items[negatives], targets,
                                        negatives)

    def logits_from_vectors(
        self, user: torch.Tensor, target_vectors: torch.Tensor, negative_vectors: torch.Tensor,
        targets: torch.Tensor, negatives: torch.Tensor,
    ) -> torch.Tensor:
        """Same as `logits` given only the rows needed, so the catalog is never encoded whole."""
        pos = (user * target_vectors).sum(-1, keepdim=True)
        neg = user @ negative_vectors.T
        if self.log_q_correction:
            pos = pos - self.log_q[targets].unsqueeze(-1)
            neg = neg - self.log_q[negatives].unsqueeze(0)
        hit = negatives.unsqueeze(0) == targets.unsqueeze(-1)
        neg = neg.masked_fill(hit, float("-inf"))
        return torch.cat([pos, neg], dim=1)

    def loss_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with the target in column 0."""
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long,
                                                   device=logits.device))

    def forward(
        self, user: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
        negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, d) users, (n,) targets, (N, d) item table -> scalar loss (negatives drawn)."""
        negatives = self.sample() if negatives is None else negatives
        logits = self.logits(user, targets, items, negatives.to(user.device))
        return F.cross_entropy(logits, torch.zeros_like(targets))
