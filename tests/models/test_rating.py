"""Rating track: models beat the global mean; cross-validation folds partition the data."""

from __future__ import annotations

import numpy as np
import pytest

from shelflm.evaluation.rating import (
    RatingData,
    RatingEvaluator,
    RatingPredictor,
    cross_validate_ratings,
    kfold_indices,
)
from shelflm.models.rating import BiasedMF, RatingModel, RatingTrainConfig, SeedEnsemble

FAST = {"dim": 8, "hidden": 16, "max_epochs": 25, "batch_size": 256, "lr": 0.02,
        "patience": 5, "threads": 1, "valid_fraction": 0.1, "embedding_l2": 0.01}


def synthetic_ratings(num_users: int = 60, num_items: int = 40, seed: int = 0) -> RatingData:
    """Ratings = 3 + user bias + item bias + taste match + noise, on a 1-5 scale."""
    rng = np.random.default_rng(seed)
    taste, kind = rng.normal(size=(num_users, 2)), rng.normal(size=(num_items, 2))
    users = np.repeat(np.arange(num_users), 25)
    items = np.concatenate([rng.choice(num_items, 25, replace=False) for _ in range(num_users)])
    raw = (3 + 0.5 * rng.normal(size=num_users)[users] + 0.5 * rng.normal(size=num_items)[items]
           + (taste[users] * kind[items]).sum(1) + 0.2 * rng.normal(size=len(users)))
    return RatingData(users, items, np.clip(np.round(raw), 1, 5), num_users, num_items)


class GlobalMean:
    def fit(self, train: RatingData) -> None:
        self.mean = float(train.ratings.mean())

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(len(users), self.mean, dtype=np.float32)


@pytest.fixture(scope="module")
def data() -> RatingData:
    return synthetic_ratings()


@pytest.mark.parametrize("make", [
    lambda n: BiasedMF(RatingTrainConfig(**FAST)),
    lambda n: RatingModel(RatingTrainConfig(**FAST),
                          np.random.default_rng(1).normal(size=(n, 12)).astype(np.float32)),
    lambda n: RatingModel(RatingTrainConfig(**FAST, implicit=False)),
])
def test_rating_models_beat_the_global_mean(make, data: RatingData) -> None:
    test_idx = kfold_indices(len(data), 5, seed=0)[0]
    train = data.subset(np.setdiff1d(np.arange(len(data)), test_idx))
    evaluate = RatingEvaluator(data.subset(test_idx), clip=(1, 5))
    baseline = GlobalMean()
    baseline.fit(train)
    model = make(data.num_items)
    assert isinstance(model, RatingPredictor)
    model.fit(train)
    assert model.history and "valid_rmse" in model.history[0]
    assert evaluate(model)["rmse"] < 0.9 * evaluate(baseline)["rmse"]


def test_folds_partition_the_rows_and_are_seeded() -> None:
    folds = kfold_indices(103, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(103))
    assert {len(f) for f in folds} <= {20, 21}
    again = kfold_indices(103, 5, seed=3)
    assert all((a == b).all() for a, b in zip(folds, again, strict=True))
    assert any((a != b).any() for a, b in zip(folds, kfold_indices(103, 5, seed=4), strict=True))


def test_cross_validation_reports_each_fold_mean_and_std(data: RatingData) -> None:
    out = cross_validate_ratings(GlobalMean, data, folds=4, seed=0, clip=(1, 5))
    assert len(out["folds"]) == 4
    rmses = [f["rmse"] for f in out["folds"]]
    assert out["rmse_mean"] == pytest.approx(np.mean(rmses))
    assert out["rmse_std"] == pytest.approx(np.std(rmses))
    assert out["mae_mean"] <= out["rmse_mean"]


def test_bad_inputs_are_named(data: RatingData) -> None:
    with pytest.raises(ValueError, match="items index outside"):
        RatingData(np.array([0]), np.array([5]), np.array([3.0]), 1, 5)
    with pytest.raises(ValueError, match="length"):
        RatingData(np.array([0, 0]), np.array([1]), np.array([3.0]), 1, 5)
    with pytest.raises(ValueError, match="folds"):
        kfold_indices(10, 1)
    with pytest.raises(ValueError, match="dropout"):
        RatingTrainConfig(dropout=1.5)
    with pytest.raises(ValueError, match="rows"):
        RatingModel(RatingTrainConfig(**FAST), np.zeros((3, 4), np.float32)).fit(data)
    with pytest.raises(RuntimeError, match="before fit"):
        BiasedMF().predict(np.zeros(1, int), np.zeros(1, int))


def test_seed_ensemble_averages_members_with_distinct_seeds(data: RatingData) -> None:
    quick = RatingTrainConfig(**{**FAST, "max_epochs": 3})
    ensemble = SeedEnsemble(BiasedMF, quick, seeds=2)
    assert [m.config.seed for m in ensemble.members] == [0, 1]
    ensemble.fit(data)
    users, items = data.users[:5], data.items[:5]
    mean = (ensemble.members[0].predict(users, items) + ensemble.members[1].predict(users, items))
    assert ensemble.predict(users, items) == pytest.approx(mean / 2, rel=1e-5)
    with pytest.raises(ValueError, match="seeds"):
        SeedEnsemble(BiasedMF, quick, seeds=0)
