"""Tune any recommender on validation: fit one candidate per grid point, keep the best."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shelflm.evaluation.protocol import Recommender, rank_cases, summarise

if TYPE_CHECKING:
    from shelflm.data.splits import Split


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of a parameter grid, in a stable order."""
    for key, values in grid.items():
        if not len(values):
            raise ValueError(f"grid parameter {key!r} has no values")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


class TunedRecommender:
    """A Recommender that grid-searches `factory(**params)` on `split.valid` (primary metric)."""

    def __init__(self, factory: Callable[..., Recommender], grid: Mapping[str, Sequence[Any]],
                 metric: str = "ndcg@10", name: str | None = None, batch_size: int = 1024,
                 max_valid_cases: int | None = None, seed: int = 0) -> None:
        self.factory, self.grid, self.metric = factory, dict(grid), metric
        self.batch_size = batch_size
        # Tuning on a seeded sample of validation cases keeps large grids affordable.
        self.max_valid_cases, self.seed = max_valid_cases, seed
        self.points = grid_points(self.grid)
        self.name = name or getattr(factory, "name", getattr(factory, "__name__", "tuned"))
        self.best: Recommender | None = None
        self.best_params: dict[str, Any] = {}
        self.trials: list[dict[str, Any]] = []  # params plus the validation metric, per point

    def fit(self, split: Split) -> None:
        """Fit every grid point on split.train, keep the one best on split.valid."""
        best_value = -math.inf
        self.trials = []
        valid = split.valid
        select = None
        if self.max_valid_cases is not None and len(valid.targets) > self.max_valid_cases:
            rng = np.random.default_rng(self.seed)
            select = np.zeros(len(valid.targets), dtype=bool)
            select[rng.choice(len(valid.targets), self.max_valid_cases, replace=False)] = True
        for params in self.points:
            start = time.perf_counter()
            model = self.factory(**params)
            model.fit(split)
            seconds = time.perf_counter() - start
            ranked = rank_cases(model, valid, self.batch_size, select)
            value = summarise(ranked)[self.metric]
            self.trials.append({**params, self.metric: value, "fit_seconds": seconds})
            if self.best is None or value > best_value:
                self.best, self.best_params, best_value = model, params, value

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of the best candidate."""
        if self.best is None:
            raise RuntimeError(f"{self.name}: score called before fit")
        return self.best.score(users, histories, history_events)
