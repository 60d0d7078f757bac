"""History-candidate pairs: the cases a cross-encoder learns and is judged on.

For each user (events in time order, ties in stored order) and every position i >= n of
their list, one case: the n events before it (items and whether each was liked) and
event i (the candidate, its like label and its rating). TALLRec's MovieLens protocol is
this with n = 10 and liked = rating > 3 (../shared/data/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelflm.data.schema import Dataset


@dataclass
class PairCases:
    """Parallel arrays, one row per case; item ids are catalog row indices."""

    users: np.ndarray  # (m,) user index
    history: np.ndarray  # (m, n) item rows, oldest first
    history_liked: np.ndarray  # (m, n) bool
    target: np.ndarray  # (m,) item row
    liked: np.ndarray  # (m,) bool
    rating: np.ndarray  # (m,) float32: the event's value

    def __len__(self) -> int:
        return len(self.target)

    def take(self, rows: np.ndarray | slice) -> PairCases:
        """The cases at `rows` (indices or a slice), same order."""
        return PairCases(self.users[rows], self.history[rows], self.history_liked[rows],
                         self.target[rows], self.liked[rows], self.rating[rows])


def like_logodds(history_liked: np.ndarray) -> np.ndarray:
    """Per case the log-odds of its history's liked share, smoothed (one liked and one
    disliked pseudo-event) so an all-liked history is not infinitely sure."""
    liked = np.asarray(history_liked, np.float32)
    share = (liked.sum(1) + 1) / (liked.shape[1] + 2)
    return np.log(share / (1 - share)).astype(np.float32)


def standardised(scores: np.ndarray) -> np.ndarray:
    """Each row's scores as z-scores over the row (a constant row: zeros): retrieval's
    scores of a case's top N as the reranker's prior log-odds."""
    mean = scores.mean(1, keepdims=True)
    std = scores.std(1, keepdims=True)
    return ((scores - mean) / np.where(std > 0, std, 1)).astype(np.float32)


def pair_cases(dataset: Dataset, history: int = 10, like_above: float = 3.0,
               user_order: Sequence[str] | None = None) -> PairCases:
    """Every (n events, next event) case of every user with more than n events; users in
    `user_order` (ids; default: the dataset's user index order), liked = value > like_above."""
    if history < 1:
        raise ValueError(f"pair_cases: history must be at least 1, got {history}")
    enc = dataset.encoded()
    if (enc["item"] < 0).any():
        raise ValueError("pair_cases: events of items the catalog lacks")
    order = np.argsort(enc["timestamp"].to_numpy(), kind="stable")
    enc = enc.iloc[order]
    by_user = {u: g for u, g in enc.groupby("user", sort=False)}
    index = dataset.user_ids
    users = (np.arange(len(index)) if user_order is None
             else index.get_indexer(pd.Index([str(u) for u in user_order])))
    if (users < 0).any():
        raise ValueError("pair_cases: user_order names users the dataset lacks")
    parts = []
    for user in users:
        events = by_user.get(int(user))
        if events is None or len(events) <= history:
            continue
        items = events["item"].to_numpy()
        values = events["value"].to_numpy(np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(np.arange(len(items)), history + 1)
        parts.append((np.full(len(windows), user), items[windows], values[windows]))
    if not parts:
        empty = np.zeros((0, history), np.int64)
        return PairCases(np.zeros(0, np.int64), empty, empty.astype(bool), np.zeros(0, np.int64),
                         np.zeros(0, bool), np.zeros(0, np.float32))
    users_col = np.concatenate([p[0] for p in parts])
    items = np.concatenate([p[1] for p in parts])
    values = np.concatenate([p[2] for p in parts])
    return PairCases(users_col, items[:, :-1], values[:, :-1] > like_above, items[:, -1],
                     values[:, -1] > like_above, values[:, -1])

