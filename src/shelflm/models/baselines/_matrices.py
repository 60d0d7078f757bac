"""Sparse matrices the classic baselines share: user-item from training, user-history at scoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset


def train_matrix(train: Dataset) -> sp.csr_matrix:
    """(num_users, num_items) binary matrix: 1 where the user interacted with the item in train."""
    enc = train.encoded()
    if enc.empty:
        raise ValueError(f"{train.name}: the training set has no interactions")
    users, items = enc["user"].to_numpy(), enc["item"].to_numpy()
    mat = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                        shape=(train.num_users, train.num_items))
    mat.data[:] = 1.0  # repeats count once: similarity should not be driven by re-buys
    return mat


def history_matrix(histories: Sequence[np.ndarray], num_items: int,
                   recency_decay: float = 1.0) -> sp.csr_matrix:
    """(n, num_items) weights of each user's history; the k-th most recent item weighs decay**k."""
    rows, cols, vals = [], [], []
    for r, hist in enumerate(histories):
        hist = np.asarray(hist, dtype=np.int64)
        if not len(hist):
            continue
        if hist.min() < 0 or hist.max() >= num_items:
            raise ValueError(f"history of row {r} has an item index outside [0, {num_items})")
        # A repeated item counts once, with the weight of its most recent visit.
        items, age = np.unique(hist[::-1], return_index=True)
        rows.append(np.full(len(items), r))
        cols.append(items)
        vals.append(recency_decay ** age)
    if not rows:
        return sp.csr_matrix((len(histories), num_items), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                          (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(histories), num_items))
