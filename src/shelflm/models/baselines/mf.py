"""Implicit-feedback matrix factorisation: weighted ALS from the `implicit` library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from shelflm.models.baselines._matrices import history_matrix, train_matrix

if TYPE_CHECKING:
    from shelflm.data.splits import Split


@dataclass
class ALSConfig:
    """Hyper-parameters of weighted ALS (Hu, Koren & Volinsky 2008)."""

    factors: int = field(default=64, metadata={"help": "latent dimensions"})
    regularization: float = field(default=0.1, metadata={"help": "L2 on the factors"})
    alpha: float = field(default=10.0, metadata={"help": "confidence = 1 + alpha * interaction"})
    iterations: int = field(default=15, metadata={"help": "ALS sweeps"})
    threads: int = field(default=2, metadata={"help": "CPU threads (the machine is shared)"})
    seed: int = field(default=0, metadata={"help": "random state of the initial factors"})

    def __post_init__(self) -> None:
        for name in ("factors", "iterations", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"ALSConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("regularization", "alpha"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ALSConfig.{name} must be > 0, got {getattr(self, name)}")


ALS_GRID: dict[str, list] = {
    "factors": [64, 128], "regularization": [1.0, 10.0], "alpha": [10.0, 40.0],
}


class ALSRecommender:
    """ALS item factors from training; a user's factors are re-solved from their history.

    Solving the user side at scoring time (ALS's exact least-squares fold-in) means the
    model needs no user-index mapping and uses the same history every model is given.
    """

    name = "als"
    grid = ALS_GRID

    def __init__(self, config: ALSConfig | None = None, **overrides: float) -> None:
        self.config = config or ALSConfig(**overrides)
        self.model: AlternatingLeastSquares | None = None

    def fit(self, split: Split) -> None:
        """Factorise the binary training matrix."""
        cfg = self.config
        # implicit runs its own threads; a BLAS pool underneath would oversubscribe the cores.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                factors=cfg.factors, regularization=cfg.regularization, alpha=cfg.alpha,
                iterations=cfg.iterations, num_threads=cfg.threads, random_state=cfg.seed,
            )
            self.model.fit(train_matrix(split.train), show_progress=False)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """Fold each history into user factors, then dot with every item's factors."""
        if self.model is None:
            raise RuntimeError("ALSRecommender.score called before fit")
        items = self.model.item_factors
        hist = history_matrix(histories, items.shape[0])
        with threadpool_limits(1, "blas"):
            user_factors = self.model.recalculate_user(np.arange(len(histories)), hist)
        return np.asarray(user_factors @ items.T, dtype=np.float32)
