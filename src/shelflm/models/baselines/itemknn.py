"""ItemKNN: cosine item-item similarity on the training interaction matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from shelflm.models.baselines._matrices import history_matrix, train_matrix

if TYPE_CHECKING:
    from shelflm.data.splits import Split


@dataclass
class ItemKNNConfig:
    """Neighbourhood size, shrinkage and recency weighting of ItemKNN."""

    neighbours: int = field(default=100, metadata={"help": "similar items kept per item"})
    shrink: float = field(default=10.0, metadata={
        "help": "added to the cosine denominator: damps similarities from few co-occurrences"})
    recency_decay: float = field(default=0.8, metadata={
        "help": "the k-th most recent history item weighs decay**k (1 = all equal)"})

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError(f"ItemKNNConfig.neighbours must be >= 1, got {self.neighbours}")
        if self.shrink < 0:
            raise ValueError(f"ItemKNNConfig.shrink must be >= 0, got {self.shrink}")
        if not 0 < self.recency_decay <= 1:
            raise ValueError(f"ItemKNNConfig.recency_decay must be in (0, 1], got "
                             f"{self.recency_decay}")


ITEMKNN_GRID: dict[str, list] = {
    "neighbours": [20, 50, 200], "shrink": [0.0, 20.0, 100.0], "recency_decay": [1.0, 0.7, 0.4],
}


class ItemKNN:
    """Scores an item by the recency-weighted sum of its similarity to the user's history."""

    name = "itemknn"
    grid = ITEMKNN_GRID

    def __init__(self, config: ItemKNNConfig | None = None, **overrides: float) -> None:
        self.config = config or ItemKNNConfig(**overrides)
        self.similarity: sp.csr_matrix | None = None

    def fit(self, split: Split) -> None:
        """Shrunk cosine similarity, pruned to the top `neighbours` per item."""
        x = train_matrix(split.train)
        co = (x.T @ x).tocsr().astype(np.float32)
        norms = np.sqrt(co.diagonal())
        co.setdiag(0.0)
        co.eliminate_zeros()
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        co.data /= norms[rows] * norms[co.indices] + self.config.shrink + 1e-9
        self.similarity = _keep_top_per_row(co, self.config.neighbours)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """History weights times the similarity matrix."""
        if self.similarity is None:
            raise RuntimeError("ItemKNN.score called before fit")
        hist = history_matrix(histories, self.similarity.shape[0], self.config.recency_decay)
        return np.asarray((hist @ self.similarity).todense(), dtype=np.float32)


def _keep_top_per_row(mat: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Zero all but the k largest entries of each row."""
    keep = np.zeros(len(mat.data), dtype=bool)
    for r in range(mat.shape[0]):
        lo, hi = mat.indptr[r], mat.indptr[r + 1]
        if hi - lo <= k:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-mat.data[lo:hi], k - 1)[:k]] = True
    mat = mat.copy()
    mat.data[~keep] = 0.0
    mat.eliminate_zeros()
    return mat
