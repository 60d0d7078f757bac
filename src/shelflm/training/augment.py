"""Sequence augmentations (crop, mask, reorder) and the contrastive loss between two views.

CL4SRec-style (Xie et al., ICDE 2022): two random augmentations of the same history should
give close user vectors, and far from other users' in the batch (InfoNCE).
Sequences here are 1-d integer arrays of item indices in time order (no padding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shelflm.training.config import AugmentConfig


def crop(seq: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """A random contiguous span of max(1, ratio * len) items."""
    n = max(1, int(round(len(seq) * ratio)))
    start = int(rng.integers(0, len(seq) - n + 1))
    return seq[start:start + n].copy()


def mask(seq: np.ndarray, ratio: float, mask_token: int, rng: np.random.Generator) -> np.ndarray:
    """The sequence with round(ratio * len) random positions set to `mask_token`."""
    out = seq.copy()
    k = int(round(len(seq) * ratio))
    out[rng.choice(len(seq), size=k, replace=False)] = mask_token
    return out


def reorder(seq: np.ndarray, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """The sequence with a random span of round(ratio * len) items shuffled."""
    out = seq.copy()
    n = int(round(len(seq) * ratio))
    if n < 2:
        return out
    start = int(rng.integers(0, len(seq) - n + 1))
    out[start:start + n] = rng.permutation(out[start:start + n])
    return out


def augment(
    seq: np.ndarray, config: AugmentConfig, mask_token: int, rng: np.random.Generator
) -> np.ndarray:
    """One of crop / mask / reorder, chosen uniformly at random."""
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return crop(seq, config.crop_ratio, rng)
    if choice == 1:
        return mask(seq, config.mask_ratio, mask_token, rng)
    return reorder(seq, config.reorder_ratio, rng)


def info_nce(view_a: torch.Tensor, view_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of view_a should match row i of view_b among the batch."""
    a = F.normalize(view_a, dim=-1)
    b = F.normalize(view_b, dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
