"""Ranking metrics computed from the rank of each case's single target, vectorised.

Ranks are 1-based. Ties are counted pessimistically: the target is placed after every
other item with the same score, so a model that gives all items one constant score
ranks every target last, never first (see `target_ranks`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

DEFAULT_KS: tuple[int, ...] = (5, 10, 20)


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target: 1 + items scoring higher + other items scoring equal."""
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(
            f"scores must be (n, num_items) and targets (n,); got {scores.shape} and "
            f"{targets.shape}"
        )
    if len(targets) and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        bad = int(targets[(targets < 0) | (targets >= scores.shape[1])][0])
        raise ValueError(f"target item index {bad} outside the catalog of {scores.shape[1]}")
    if np.isnan(scores).any():
        row = int(np.flatnonzero(np.isnan(scores).any(axis=1))[0])
        raise ValueError(f"scores contain NaN (first in batch row {row})")
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    higher = (scores > target_scores).sum(axis=1)
    # Pessimistic ties: equal scores (minus the target itself) go ahead of the target.
    equal = (scores == target_scores).sum(axis=1) - 1
    return (higher + equal + 1).astype(np.int64)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """HR@K: share of cases whose target is in the top K."""
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def recall(ranks: np.ndarray, k: int) -> float:
    """Recall@K; with exactly one relevant item per case it equals HR@K."""
    return hit_rate(ranks, k)


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@K with one relevant item: mean of 1/log2(rank+1) over cases with rank <= K."""
    if not len(ranks):
        return float("nan")
    gains = np.where(ranks <= k, 1.0 / np.log2(ranks.astype(np.float64) + 1.0), 0.0)
    return float(gains.mean())


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank over the full catalog (no cut-off)."""
    return float(np.mean(1.0 / ranks)) if len(ranks) else float("nan")


def ranking_metrics(ranks: np.ndarray, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """HR@K, NDCG@K and Recall@K for each K, plus MRR, keyed like `ndcg@10`."""
    ranks = np.asarray(ranks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr@{k}"] = hit_rate(ranks, k)
        out[f"ndcg@{k}"] = ndcg(ranks, k)
        out[f"recall@{k}"] = recall(ranks, k)
    out["mrr"] = mrr(ranks)
    return out


def top_k_items(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) item indices of the k highest scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def catalog_coverage(top_items: np.ndarray, num_items: int) -> float:
    """Share of the catalog that appears in at least one recommendation list."""
    if num_items <= 0:
        raise ValueError(f"num_items must be positive, got {num_items}")
    return float(len(np.unique(top_items)) / num_items) if top_items.size else float("nan")


def popularity_percentiles(item_popularity: np.ndarray) -> np.ndarray:
    """Per item, the share of catalog items strictly less popular (0 = least, ~1 = most)."""
    pop = np.asarray(item_popularity, dtype=np.float64)
    return np.searchsorted(np.sort(pop), pop, side="left") / max(len(pop), 1)


def popularity_bias(top_items: np.ndarray, item_popularity: np.ndarray) -> dict[str, float]:
    """ARP (mean train count of recommended items) and their mean popularity percentile."""
    if not top_items.size:
        return {"arp": float("nan"), "pop_percentile": float("nan")}
    pop = np.asarray(item_popularity, dtype=np.float64)
    return {
        "arp": float(pop[top_items].mean()),
        "pop_percentile": float(popularity_percentiles(pop)[top_items].mean()),
    }
