"""How much exposure new items get, and how much each member of a blend weighs, picked on
validation cases (`shelflm ensemble`).

The offset is added to the scores of the items a model marks (items without training
events).

By NDCG@10 over all cases alone the pick is "never show a new item" (cold targets are few,
so burying them costs little on the average); so the offset is the best one over all cases
among those where cold targets reach `ratio` of the warm ones' NDCG@10 (issue 13's goal is
half).
"""

from __future__ import annotations

import numpy as np

from shelflm.data.splits import EvalCases
from shelflm.evaluation import metrics
from shelflm.evaluation.protocol import Recommender, mask_history

DEFAULT_OFFSETS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def ranks_by_offset(model: Recommender, marked: np.ndarray, cases: EvalCases,
                    offsets: tuple[float, ...], batch: int = 512) -> dict[float, np.ndarray]:
    """Target ranks of every case with `offset * marked` added to the model's scores, for
    each offset; the model scores each batch of cases once (history masked as the protocol
    does)."""
    bonus = np.asarray(marked, np.float32)
    targets = np.asarray(cases.targets, dtype=np.int64)
    out: dict[float, list[np.ndarray]] = {b: [] for b in offsets}
    for start in range(0, len(targets), batch):
        idx = np.arange(start, min(start + batch, len(targets)))
        hist = [np.asarray(cases.histories[i]) for i in idx]
        events = [np.asarray(cases.history_events[i]) for i in idx]
        scores = np.asarray(model.score(np.asarray(cases.users)[idx], hist, events),
                            np.float32)
        for b in offsets:
            shifted = scores + np.float32(b) * bonus
            mask_history(shifted, hist, targets[idx])
            out[b].append(metrics.target_ranks(shifted, targets[idx]))
    return {b: np.concatenate(r) if r else np.zeros(0, np.int64) for b, r in out.items()}


def ndcg_by_subset(ranks: np.ndarray, cold: np.ndarray) -> dict[str, float]:
    """NDCG@10 over all cases, the cold-target ones and the warm-target ones."""
    cold = np.asarray(cold, bool)
    return {"all": metrics.ndcg(ranks, 10), "cold": metrics.ndcg(ranks[cold], 10),
            "warm": metrics.ndcg(ranks[~cold], 10)}


def pick_offset(valid: dict[float, dict[str, float]], ratio: float) -> float:
    """The offset with the best NDCG@10 over all cases among those whose cold targets reach
    `ratio` of the warm ones' NDCG@10; without any, the one nearest to it."""
    meets = [b for b, m in valid.items() if m["cold"] >= ratio * m["warm"]]
    if meets:
        return max(meets, key=lambda b: valid[b]["all"])
    return max(valid, key=lambda b: valid[b]["cold"] / max(valid[b]["warm"], 1e-9))


def fit_offset(model: Recommender, marked: np.ndarray, cases: EvalCases,
               offsets: tuple[float, ...] = DEFAULT_OFFSETS,
               ratio: float = 0.5) -> tuple[float, dict[str, dict[str, float]]]:
    """The picked offset and validation NDCG@10 (all / cold / warm) for every offset."""
    if not np.any(cases.target_is_cold):
        raise ValueError("no validation case has a cold target: split with cold items "
                         "(--cold) to fit the exposure of new items")
    valid = {b: ndcg_by_subset(r, cases.target_is_cold)
             for b, r in ranks_by_offset(model, marked, cases, offsets).items()}
    return pick_offset(valid, ratio), {f"{b:g}": m for b, m in valid.items()}


def fit_weights(members: list[Recommender], cases: EvalCases,
                grid: tuple[float, ...] = DEFAULT_WEIGHTS,
                batch: int = 512) -> tuple[list[float], list[dict[str, float]]]:
    """Weights of a blend of member scores (each already on one scale: per-user z-scores),
    picked on `cases` by NDCG@10: every weight starts at 1, then each member after the
    first takes the grid value that ranks best with the others fixed (one pass). Returns
    the weights and, per member after the first, NDCG@10 by tried value."""
    weights, tried = [1.0] * len(members), []
    targets = np.asarray(cases.targets, dtype=np.int64)
    for k in range(1, len(members)):
        ranks: dict[float, list[np.ndarray]] = {w: [] for w in grid}
        for start in range(0, len(targets), batch):
            idx = np.arange(start, min(start + batch, len(targets)))
            hist = [np.asarray(cases.histories[i]) for i in idx]
            events = [np.asarray(cases.history_events[i]) for i in idx]
            users = np.asarray(cases.users)[idx]
            scores = [np.asarray(m.score(users, hist, events), np.float32) for m in members]
            rest = sum(w * s for j, (w, s) in enumerate(zip(weights, scores, strict=True))
                       if j != k)
            for w in grid:
                blended = rest + np.float32(w) * scores[k]
                mask_history(blended, hist, targets[idx])
                ranks[w].append(metrics.target_ranks(blended, targets[idx]))
        by_weight = {w: metrics.ndcg(np.concatenate(r), 10) for w, r in ranks.items()}
        weights[k] = max(by_weight, key=lambda w: (by_weight[w], w == weights[k]))
        tried.append({f"{w:g}": v for w, v in by_weight.items()})
    return weights, tried
