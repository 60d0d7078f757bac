"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shelflm.evaluation import metrics


def test_ranks_one_three_eleven_give_hand_computed_metrics() -> None:
    ranks = np.array([1, 3, 11])
    out = metrics.ranking_metrics(ranks, ks=(5, 10, 20))
    assert out["hr@5"] == pytest.approx(2 / 3)
    assert out["hr@10"] == pytest.approx(2 / 3)
    assert out["hr@20"] == pytest.approx(1.0)
    assert out["recall@10"] == out["hr@10"]
    assert out["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(4)) / 3)
    assert out["ndcg@20"] == pytest.approx((1.0 + 1 / math.log2(4) + 1 / math.log2(12)) / 3)
    assert out["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)


def test_target_ranks_from_scores() -> None:
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.9, 0.1, 0.5, 0.3]], dtype=np.float32)
    assert metrics.target_ranks(scores, np.array([0, 1])).tolist() == [1, 4]


def test_ties_are_pessimistic_so_constant_scores_rank_last() -> None:
    scores = np.zeros((3, 50), dtype=np.float32)
    ranks = metrics.target_ranks(scores, np.array([0, 7, 49]))
    assert ranks.tolist() == [50, 50, 50]
    assert metrics.hit_rate(ranks, 20) == 0.0
    # a partial tie: target tied with one other item, one item strictly higher
    ranks = metrics.target_ranks(np.array([[0.5, 0.9, 0.5, 0.1]]), np.array([0]))
    assert ranks.tolist() == [3]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="outside the catalog"):
        metrics.target_ranks(np.zeros((1, 3)), np.array([3]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.target_ranks(np.array([[0.1, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="shape|must be"):
        metrics.target_ranks(np.zeros(3), np.array([0]))


def test_top_k_coverage_and_popularity_bias() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.8, 0.7, 0.0, 0.1]])
    top = metrics.top_k_items(scores, 2)
    assert top.tolist() == [[1, 2], [0, 1]]
    assert metrics.catalog_coverage(top, 4) == pytest.approx(3 / 4)
    pop = np.array([10.0, 5.0, 1.0, 0.0])
    bias = metrics.popularity_bias(top, pop)
    assert bias["arp"] == pytest.approx((5 + 1 + 10 + 5) / 4)
    # percentiles: item0 3/4, item1 2/4, item2 1/4, item3 0
    assert bias["pop_percentile"] == pytest.approx((0.5 + 0.25 + 0.75 + 0.5) / 4)


def test_empty_ranks_give_nan_not_a_crash() -> None:
    out = metrics.ranking_metrics(np.zeros(0, dtype=np.int64))
    assert all(math.isnan(v) for v in out.values())
