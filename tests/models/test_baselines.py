"""Each baseline fits and beats random scores on a tiny shop with built-in structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelflm.data.schema import Catalog, Dataset, Interactions
from shelflm.data.splits import EvalCases, Split
from shelflm.evaluation.protocol import Recommender, evaluate_ranking
from shelflm.models.baselines import (
    EASE,
    ALSRecommender,
    ItemKNN,
    Popularity,
    TunedRecommender,
    grid_points,
)

NUM_ITEMS, CLUSTER = 60, 10


def make_split(seed: int = 0, num_users: int = 240) -> Split:
    """Each user buys 7 items of one cluster; cluster 0 is the most common (popularity signal)."""
    rng = np.random.default_rng(seed)
    clusters = rng.choice(NUM_ITEMS // CLUSTER, num_users, p=[0.4, 0.15, 0.15, 0.1, 0.1, 0.1])
    rows, valid, test = [], [], []
    for u, c in enumerate(clusters):
        seq = c * CLUSTER + rng.choice(CLUSTER, 7, replace=False)
        rows += [(f"u{u:03d}", f"i{i:02d}", t) for t, i in enumerate(seq[:-2])]
        valid.append((u, seq[:-2], seq[-2]))
        test.append((u, seq[:-1], seq[-1]))
    catalog = Catalog.from_frame(pd.DataFrame({
        "item_id": [f"i{i:02d}" for i in range(NUM_ITEMS)],
        "title": [f"item {i}" for i in range(NUM_ITEMS)]}))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    train = Dataset("tiny", catalog, Interactions.from_frame(events))

    def cases(part):
        return EvalCases(np.array([p[0] for p in part]), np.array([p[2] for p in part]),
                     [np.asarray(p[1]) for p in part], [np.zeros(len(p[1]), int) for p in part],
                     np.zeros(len(part), bool))

    return Split(train, cases(valid), cases(test), np.zeros(0, int))


class RandomScores:
    name = "random"

    def fit(self, split) -> None:
        self.rng = np.random.default_rng(1)

    def score(self, users, histories, history_events) -> np.ndarray:
        return self.rng.random((len(users), NUM_ITEMS)).astype(np.float32)


@pytest.fixture(scope="module")
def split() -> Split:
    return make_split()


@pytest.fixture(scope="module")
def random_ndcg(split: Split) -> float:
    model = RandomScores()
    model.fit(split)
    return evaluate_ranking(model, split.test)["ndcg@10"]


@pytest.mark.parametrize("make", [
    Popularity,
    lambda: ItemKNN(neighbours=20, shrink=1.0),
    lambda: ALSRecommender(factors=8, iterations=5, threads=1),
    lambda: EASE(l2=10.0),
])
def test_baseline_beats_random(make, split: Split, random_ndcg: float) -> None:
    model = make()
    assert isinstance(model, Recommender)
    model.fit(split)
    scores = model.score(split.test.users[:3], split.test.histories[:3],
                         split.test.history_events[:3])
    assert scores.shape == (3, NUM_ITEMS) and scores.dtype == np.float32
    out = evaluate_ranking(model, split.test)
    assert out["ndcg@10"] > random_ndcg + 0.05, (model.name, out["ndcg@10"], random_ndcg)


def test_cluster_models_beat_popularity(split: Split) -> None:
    pop, knn = Popularity(), ItemKNN(neighbours=20)
    pop.fit(split)
    knn.fit(split)
    assert evaluate_ranking(knn, split.test)["hr@10"] > evaluate_ranking(pop, split.test)["hr@10"]


def test_tuned_recommender_keeps_the_best_grid_point(split: Split) -> None:
    tuned = TunedRecommender(lambda **p: ItemKNN(**p), {"neighbours": [1, 20]}, name="itemknn")
    tuned.fit(split)
    assert [t["neighbours"] for t in tuned.trials] == [1, 20]
    best = max(tuned.trials, key=lambda t: t["ndcg@10"])
    assert tuned.best_params == {"neighbours": best["neighbours"]}
    assert tuned.score(split.test.users[:2], split.test.histories[:2],
                       split.test.history_events[:2]).shape == (2, NUM_ITEMS)


def test_grids_are_exposed_and_valid() -> None:
    for cls in (ItemKNN, ALSRecommender, EASE):
        for params in grid_points(cls.grid)[:2]:
            cls(**params)  # every grid point is an accepted config
    assert len(grid_points({"a": [1, 2], "b": [3, 4, 5]})) == 6
    with pytest.raises(ValueError, match="no values"):
        grid_points({"a": []})


def test_bad_configs_and_unfitted_use_are_named() -> None:
    with pytest.raises(ValueError, match="neighbours"):
        ItemKNN(neighbours=0)
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=-1.0)
    with pytest.raises(RuntimeError, match="before fit"):
        Popularity().score(np.zeros(1), [np.zeros(0, int)], [np.zeros(0, int)])


SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED_DATA / "ml-100k" / "u.data").is_file(),
                    reason="../shared/data/ml-100k is absent")
def test_itemknn_beats_popularity_on_ml100k_leave_one_out() -> None:
    from shelflm.data.loaders.movielens_100k import load_movielens_100k
    from shelflm.data.splits import LeaveOneOutSplit

    split = LeaveOneOutSplit().split(load_movielens_100k(SHARED_DATA / "ml-100k"))
    pop, knn = Popularity(), ItemKNN(neighbours=50, shrink=20.0, recency_decay=0.7)
    pop.fit(split)
    knn.fit(split)
    pop_out, knn_out = evaluate_ranking(pop, split.test), evaluate_ranking(knn, split.test)
    assert pop_out["num_cases"] == 943
    assert 0.01 < pop_out["ndcg@10"] < knn_out["ndcg@10"] < 0.5
