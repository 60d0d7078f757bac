"""The full-ranking protocol: history exclusion, ties, batching and cold/warm subsets."""

from __future__ import annotations

import numpy as np
import pytest

from shelflm.data.splits import EvalCases
from shelflm.evaluation.protocol import (
    RankingEvaluator,
    Recommender,
    evaluate_ranking,
    mask_history,
)


def make_cases(histories: list[list[int]], targets: list[int], cold: list[bool] | None = None):
    n = len(targets)
    return EvalCases(
        np.arange(n), np.array(targets), [np.array(h, dtype=np.int64) for h in histories],
        [np.zeros(len(h), dtype=np.int64) for h in histories],
        np.array(cold if cold is not None else [False] * n),
    )


class FixedScores:
    """Scores every user with the same vector: item i scores `weights[i]`."""

    name = "fixed"

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.calls: list[int] = []

    def fit(self, split) -> None:
        pass

    def score(self, users, histories, history_events) -> np.ndarray:
        self.calls.append(len(users))
        return np.tile(self.weights, (len(users), 1))


def test_fixed_scores_model_satisfies_protocol() -> None:
    assert isinstance(FixedScores(np.zeros(3)), Recommender)


def test_history_items_never_in_top_k_and_target_in_history_stays_rankable() -> None:
    weights = np.arange(30, 0, -1, dtype=np.float32)  # item 0 best, item 29 worst
    cases = make_cases([[0, 1, 2], [1, 2, 5]], targets=[3, 1])
    scores = np.tile(weights, (2, 1))
    mask_history(scores, cases.histories, cases.targets)
    assert np.isneginf(scores[0, [0, 1, 2]]).all()
    assert scores[1, 1] == weights[1]  # repeat purchase: target kept with its own score
    assert np.isneginf(scores[1, [2, 5]]).all() and scores[1, 0] == weights[0]
    out = evaluate_ranking(FixedScores(weights), cases, ks=(1, 5))
    # case 0: items 0-2 masked, target 3 is now first; case 1: only item 0 ahead of target 1
    assert out["hr@1"] == pytest.approx(0.5)
    assert out["mrr"] == pytest.approx((1 + 1 / 2) / 2)


def test_masked_items_do_not_tie_with_a_minus_inf_target() -> None:
    weights = np.full(10, -np.inf, dtype=np.float32)
    out = evaluate_ranking(FixedScores(weights), make_cases([[1, 2]], [0]), ks=(5,))
    assert out["hr@5"] == 0.0 and out["mrr"] == pytest.approx(1 / 10)


def test_constant_model_does_not_get_a_good_rank() -> None:
    out = evaluate_ranking(FixedScores(np.ones(100)), make_cases([[1]] * 4, [0, 5, 9, 50]))
    assert out["hr@20"] == 0.0 and out["ndcg@10"] == 0.0


def test_batches_give_the_same_metrics_as_one_pass() -> None:
    rng = np.random.default_rng(0)
    weights = rng.random(40).astype(np.float32)
    cases = make_cases([rng.choice(40, 3, replace=False).tolist() for _ in range(25)],
                       rng.integers(0, 40, 25).tolist())
    model = FixedScores(weights)
    small = evaluate_ranking(model, cases, batch_size=4)
    assert max(model.calls) == 4
    assert small == evaluate_ranking(FixedScores(weights), cases, batch_size=1000)


def test_cold_and_warm_subsets_partition_the_cases() -> None:
    weights = np.arange(10, 0, -1, dtype=np.float32)
    cases = make_cases([[9]] * 4, [0, 1, 8, 2], cold=[True, False, True, False])
    cold = evaluate_ranking(FixedScores(weights), cases, subset="cold", ks=(1,))
    warm = evaluate_ranking(FixedScores(weights), cases, subset="warm", ks=(1,))
    assert cold["num_cases"] == 2 and warm["num_cases"] == 2
    assert cold["mrr"] == pytest.approx((1 + 1 / 9) / 2)
    assert warm["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="subset"):
        evaluate_ranking(FixedScores(weights), cases, subset="hot")  # type: ignore[arg-type]


def test_empty_subset_gives_nan_metrics() -> None:
    cases = make_cases([[1]], [0], cold=[False])
    out = evaluate_ranking(FixedScores(np.ones(5)), cases, subset="cold")
    assert out["num_cases"] == 0 and np.isnan(out["ndcg@10"])


def test_evaluator_reports_subsets_coverage_and_primary_metric() -> None:
    weights = np.arange(20, 0, -1, dtype=np.float32)
    cases = make_cases([[0]] * 3, [1, 2, 3], cold=[True, False, False])
    evaluator = RankingEvaluator(cases, subsets=("all", "cold", "warm"))
    out = evaluator(FixedScores(weights))
    assert evaluator.primary_metric in out
    assert out["cold_num_cases"] == 1 and out["warm_num_cases"] == 2
    assert out["coverage@10"] == pytest.approx(10 / 20)  # items 1..10 for everyone


def test_wrong_score_shape_is_reported() -> None:
    class Broken(FixedScores):
        def score(self, users, histories, history_events):
            return np.zeros((len(users) + 1, 5))

    with pytest.raises(ValueError, match="shape"):
        evaluate_ranking(Broken(np.zeros(5)), make_cases([[1]], [0]))
