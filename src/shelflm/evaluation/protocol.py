"""The one evaluation protocol every recommender goes through: full-catalog ranking.

Rules, applied to every model alike:
- Each case's target is ranked against the FULL catalog (never sampled negatives;
  Krichene & Rendle, KDD 2020).
- Items in the user's own history are excluded from ranking (score set to -inf), except
  the target itself: when the target is also in the history (a repeat purchase), it stays
  rankable with the model's own score, so repeat behaviour is neither free nor impossible.
- Ties are pessimistic (`metrics.target_ranks`): a constant-score model ranks targets last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from shelflm.evaluation import metrics

if TYPE_CHECKING:  # imported for types only: the protocol needs just the documented fields
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import EvalCases, Split

Subset = Literal["all", "cold", "warm"]
SUBSETS: tuple[str, ...] = ("all", "cold", "warm")
COVERAGE_K = 10  # coverage and popularity bias are measured on the top-10 lists


@runtime_checkable
class Recommender(Protocol):
    """What every model (ours and the baselines) offers the evaluation protocol."""

    name: str

    def fit(self, split: Split) -> None:
        """Train on `split.train`; may use `split.valid` for tuning or early stopping."""

    def score(
        self, users: np.ndarray, histories: Sequence[np.ndarray],
        history_events: Sequence[np.ndarray],
    ) -> np.ndarray:
        """(n, num_items) float32 scores for n users given their time-ordered histories."""


@dataclass
class RankedCases:
    """Per-case results of one scoring pass: target ranks and top-K lists."""

    ranks: np.ndarray  # (n,) 1-based rank of the target in the full catalog
    top_items: np.ndarray  # (n, COVERAGE_K) recommended items after history masking
    num_items: int


def item_popularity(train: Dataset) -> np.ndarray:
    """(num_items,) number of training events per item, in catalog index order."""
    items = train.encoded()["item"].to_numpy()
    return np.bincount(items, minlength=train.num_items).astype(np.float64)


def mask_history(scores: np.ndarray, histories: Sequence[np.ndarray], targets: np.ndarray) -> None:
    """Set each row's history items to -inf in place, leaving the row's target untouched."""
    if not len(histories):
        return
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = (np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
            if lengths.sum() else np.zeros(0, dtype=np.int64))
    keep = cols != targets[rows]  # the target stays rankable even when it was seen before
    scores[rows[keep], cols[keep]] = -np.inf


def subset_mask(cases: EvalCases, subset: Subset) -> np.ndarray:
    """Boolean mask of the cases in `subset` ("all", "cold" or "warm" targets)."""
    n = len(cases.targets)
    if subset == "all":
        return np.ones(n, dtype=bool)
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    cold = np.asarray(cases.target_is_cold, dtype=bool)
    if cold.shape != (n,):
        raise ValueError(f"cases.target_is_cold has shape {cold.shape}, expected ({n},)")
    return cold if subset == "cold" else ~cold


def rank_cases(
    model: Recommender, cases: EvalCases, batch_size: int = 1024,
    select: np.ndarray | None = None,
) -> RankedCases:
    """Score the (selected) cases in user batches, mask histories and rank the targets."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    index = np.arange(len(cases.targets)) if select is None else np.flatnonzero(select)
    users = np.asarray(cases.users)
    targets = np.asarray(cases.targets, dtype=np.int64)
    ranks, tops, num_items = [], [], -1
    for start in range(0, len(index), batch_size):
        idx = index[start:start + batch_size]
        hist = [np.asarray(cases.histories[i]) for i in idx]
        events = [np.asarray(cases.history_events[i]) for i in idx]
        scores = np.array(model.score(users[idx], hist, events), dtype=np.float32)
        name = getattr(model, "name", type(model).__name__)
        if scores.ndim != 2 or scores.shape[0] != len(idx):
            raise ValueError(f"{name}.score returned shape {scores.shape} for {len(idx)} users")
        if num_items not in (-1, scores.shape[1]):
            raise ValueError(f"{name}.score changed catalog size {num_items} -> {scores.shape[1]}")
        num_items = scores.shape[1]
        mask_history(scores, hist, targets[idx])
        ranks.append(metrics.target_ranks(scores, targets[idx]))
        tops.append(metrics.top_k_items(scores, COVERAGE_K))
    if not ranks:
        return RankedCases(np.zeros(0, np.int64), np.zeros((0, COVERAGE_K), np.int64), 0)
    return RankedCases(np.concatenate(ranks), np.concatenate(tops), num_items)


def summarise(
    ranked: RankedCases, ks: Iterable[int] = metrics.DEFAULT_KS,
    popularity: np.ndarray | None = None,
) -> dict[str, float]:
    """Metric dict for ranked cases: HR/NDCG/Recall@K, MRR, coverage and popularity bias."""
    out = metrics.ranking_metrics(ranked.ranks, ks)
    out["num_cases"] = float(len(ranked.ranks))
    out[f"coverage@{COVERAGE_K}"] = (
        metrics.catalog_coverage(ranked.top_items, ranked.num_items)
        if ranked.num_items else float("nan")
    )
    if popularity is not None:
        bias = metrics.popularity_bias(ranked.top_items, popularity)
        out[f"arp@{COVERAGE_K}"] = bias["arp"]
        out[f"pop_percentile@{COVERAGE_K}"] = bias["pop_percentile"]
    return out


def evaluate_ranking(
    model: Recommender, cases: EvalCases, ks: Iterable[int] = metrics.DEFAULT_KS,
    batch_size: int = 1024, subset: Subset = "all", popularity: np.ndarray | None = None,
) -> dict[str, float]:
    """Full-catalog ranking metrics of `model` on `cases` (optionally cold/warm targets only).

    An empty subset (e.g. no cold targets) gives NaN metrics with `num_cases` 0.
    `popularity` (per-item train counts, see `item_popularity`) adds popularity-bias metrics.
    """
    ranked = rank_cases(model, cases, batch_size, subset_mask(cases, subset))
    return summarise(ranked, ks, popularity)


def split_metrics(model: Recommender, split: Split) -> dict[str, float]:
    """A fitted model's test metrics on a split (popularity bias included); on a split with
    cold items also NDCG@10 over the cold and over the warm targets alone."""
    out = evaluate_ranking(model, split.test, popularity=item_popularity(split.train))
    if len(split.cold_items):
        out["cold_ndcg@10"] = evaluate_ranking(model, split.test, subset="cold")["ndcg@10"]
        out["warm_ndcg@10"] = evaluate_ranking(model, split.test, subset="warm")["ndcg@10"]
    return out


class RankingEvaluator:
    """Callable evaluator (sentence-transformers style): model -> metrics, with a primary one."""

    def __init__(
        self, cases: EvalCases, train: Dataset | None = None, name: str = "",
        ks: Iterable[int] = metrics.DEFAULT_KS, subsets: Sequence[Subset] = ("all",),
        batch_size: int = 1024, primary_metric: str = "ndcg@10",
    ) -> None:
        for s in subsets:
            subset_mask(cases, s)  # fail at construction on a bad subset name
        self.cases, self.name, self.ks = cases, name, tuple(ks)
        self.subsets, self.batch_size = tuple(subsets), batch_size
        self.popularity = item_popularity(train) if train is not None else None
        self.primary_metric = primary_metric

    def __call__(self, model: Recommender) -> dict[str, float]:
        """Score once, then summarise per subset; keys of non-"all" subsets get a prefix."""
        ranked = rank_cases(model, self.cases, self.batch_size)
        out: dict[str, float] = {}
        for subset in self.subsets:
            keep = subset_mask(self.cases, subset)
            part = RankedCases(ranked.ranks[keep], ranked.top_items[keep], ranked.num_items)
            prefix = "" if subset == "all" else f"{subset}_"
            for key, value in summarise(part, self.ks, self.popularity).items():
                out[prefix + key] = value
        return out
