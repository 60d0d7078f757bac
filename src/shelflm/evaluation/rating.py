"""Rating prediction track: RMSE/MAE and k-fold cross-validation with a fixed seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset


@dataclass
class RatingData:
    """Aligned (user, item, rating) arrays plus the index ranges they live in."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    num_users: int
    num_items: int

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        self.ratings = np.asarray(self.ratings, dtype=np.float32)
        if not (len(self.users) == len(self.items) == len(self.ratings)):
            raise ValueError(
                f"users, items and ratings differ in length: {len(self.users)}, "
                f"{len(self.items)}, {len(self.ratings)}"
            )
        for name, arr, size in (("users", self.users, self.num_users),
                                ("items", self.items, self.num_items)):
            if len(arr) and (arr.min() < 0 or arr.max() >= size):
                raise ValueError(f"{name} index outside [0, {size}): {arr.min()}..{arr.max()}")
        if not np.isfinite(self.ratings).all():
            raise ValueError("ratings contain NaN or infinity")

    def __len__(self) -> int:
        return len(self.ratings)

    def subset(self, index: np.ndarray) -> RatingData:
        """The rows at `index`, same index ranges."""
        return RatingData(self.users[index], self.items[index], self.ratings[index],
                          self.num_users, self.num_items)

    @classmethod
    def from_dataset(cls, dataset: Dataset, event: str = "rating") -> RatingData:
        """The `event` rows of a Dataset (value = the rating), in Dataset index space."""
        enc = dataset.encoded()
        enc = enc[enc["event"] == event]
        if enc.empty:
            raise ValueError(f"{dataset.name}: no {event!r} events to predict")
        return cls(enc["user"].to_numpy(), enc["item"].to_numpy(), enc["value"].to_numpy(),
                   dataset.num_users, dataset.num_items)


@runtime_checkable
class RatingPredictor(Protocol):
    """A model of explicit ratings."""

    def fit(self, train: RatingData) -> None:
        """Learn from training ratings (may hold some out internally for early stopping)."""

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n,) predicted ratings."""


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - truth)))


def kfold_indices(n: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test-row indices of each fold: a seeded shuffle cut into `folds` near-equal parts."""
    if folds < 2 or folds > n:
        raise ValueError(f"folds must be in [2, {n}], got {folds}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


class RatingEvaluator:
    """Callable evaluator: a fitted predictor -> {rmse, mae}; primary metric RMSE (lower wins)."""

    primary_metric = "rmse"
    greater_is_better = False

    def __init__(self, test: RatingData, clip: tuple[float, float] | None = None) -> None:
        self.test, self.clip = test, clip

    def __call__(self, model: RatingPredictor) -> dict[str, float]:
        """RMSE and MAE of `model` on the held-out ratings."""
        pred = np.asarray(model.predict(self.test.users, self.test.items), dtype=np.float64)
        if pred.shape != self.test.ratings.shape:
            raise ValueError(f"predict returned shape {pred.shape}, expected "
                             f"{self.test.ratings.shape}")
        if self.clip is not None:
            pred = np.clip(pred, *self.clip)
        return {"rmse": rmse(pred, self.test.ratings), "mae": mae(pred, self.test.ratings)}


def cross_validate_ratings(
    model_factory: Callable[[], RatingPredictor], dataset: Dataset | RatingData,
    folds: int = 5, seed: int = 0, clip: tuple[float, float] | None = None,
) -> dict:
    """K-fold CV: a fresh model per fold; RMSE and MAE per fold, their mean and std.

    `clip` bounds predictions to the rating scale (e.g. (1, 5)) before scoring.
    """
    data = dataset if isinstance(dataset, RatingData) else RatingData.from_dataset(dataset)
    parts = kfold_indices(len(data), folds, seed)
    per_fold: list[dict[str, float]] = []
    for k, test_idx in enumerate(parts):
        train_idx = np.concatenate([p for j, p in enumerate(parts) if j != k])
        model = model_factory()
        model.fit(data.subset(train_idx))
        per_fold.append(RatingEvaluator(data.subset(test_idx), clip)(model))
    out: dict = {"folds": per_fold, "seed": seed}
    for key in ("rmse", "mae"):
        values = np.array([f[key] for f in per_fold])
        out[f"{key}_mean"], out[f"{key}_std"] = float(values.mean()), float(values.std())
    return out
