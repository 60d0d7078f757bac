"""EASE^R (Steck, WWW 2019): a closed-form item-item linear model, strong on sparse shop data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from shelflm.models.baselines._matrices import history_matrix, train_matrix

if TYPE_CHECKING:
    from shelflm.data.splits import Split


@dataclass
class EASEConfig:
    """Regularisation and size guard of EASE^R."""

    l2: float = field(default=200.0, metadata={"help": "lambda added to the Gram diagonal"})
    max_items: int = field(default=20_000, metadata={
        "help": "refuse larger catalogs: the dense item x item inverse grows with its square"})

    def __post_init__(self) -> None:
        if self.l2 <= 0:
            raise ValueError(f"EASEConfig.l2 must be > 0, got {self.l2}")
        if self.max_items < 1:
            raise ValueError(f"EASEConfig.max_items must be >= 1, got {self.max_items}")


EASE_GRID: dict[str, list] = {"l2": [100.0, 500.0, 2000.0]}


class EASE:
    """B = I - P / diag(P) with P = (X'X + l2 I)^-1 and diag(B) = 0; score = history @ B."""

    name = "ease"
    grid = EASE_GRID

    def __init__(self, config: EASEConfig | None = None, **overrides: float) -> None:
        self.config = config or EASEConfig(**overrides)
        self.weights: np.ndarray | None = None

    def fit(self, split: Split) -> None:
        """Solve the closed form in float32 (a 12k catalog needs ~0.6 GB per matrix)."""
        x = train_matrix(split.train)
        if x.shape[1] > self.config.max_items:
            raise ValueError(f"EASE: {x.shape[1]} items exceed max_items="
                             f"{self.config.max_items}")
        gram = np.asarray((x.T @ x).todense(), dtype=np.float32)
        gram[np.diag_indices_from(gram)] += self.config.l2
        p = np.linalg.inv(gram)
        del gram
        p /= -np.diag(p)[None, :]
        p[np.diag_indices_from(p)] = 0.0
        self.weights = p

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """Binary history times the item-item weights."""
        if self.weights is None:
            raise RuntimeError("EASE.score called before fit")
        hist = history_matrix(histories, self.weights.shape[0])
        return np.asarray(hist @ self.weights, dtype=np.float32)
