"""The reranker's cases and the reranked model: pairs only where retrieval's top N holds
the target, retrieval's standardised score as each pair's prior, and the top N lifted
above the rest in the cross-encoder's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from shelflm.data.pair_cases import standardised
from shelflm.data.schema import Catalog
from shelflm.data.splits import EvalCases
from shelflm.training.config import RankerConfig
from shelflm.training.rerank import RerankRecommender, ranker_pairs

SCORES = np.array([[6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], np.float32)


class _Retrieval:
    name = "fixed"

    def fit(self, split: object) -> None:
        """Fixed scores: nothing to learn."""

    def score(self, users, histories, history_events) -> np.ndarray:
        return SCORES[np.asarray(users)].copy()


class _Reversing:
    """A scorer whose like logit is minus the prior: retrieval's order turned around."""

    def eval(self) -> _Reversing:
        return self

    def tokenize(self, histories, candidates) -> tuple[dict, int]:
        return {}, 0

    def __call__(self, batch, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -prior, torch.zeros_like(prior)


def _catalog() -> Catalog:
    return Catalog.from_frame(pd.DataFrame({"item_id": [f"i{k}" for k in range(6)],
                                            "title": list("ABCDEF")}))


def _cases() -> EvalCases:
    # user 0 saw item 0: its top 3 are 1, 2, 3 (target 2 in it); user 1 saw item 1: its
    # top 3 are 5, 4, 3 (target 0 outside it); user 2 saw nothing: 0, 1, 2 (target 0).
    return EvalCases(np.array([0, 1, 2]), np.array([2, 0, 0]),
                     [np.array([0]), np.array([1]), np.array([], np.int64)],
                     [np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64)],
                     np.zeros(3, bool))


def test_pairs_come_only_from_cases_whose_target_is_listed() -> None:
    config = RankerConfig(candidates=3, negatives=2)
    pairs, share = ranker_pairs(_Retrieval(), _cases(), _catalog(), config,
                                np.random.default_rng(0))
    assert share == 2 / 3 and len(pairs) == 6
    assert pairs.liked.tolist() == [1, 0, 0, 1, 0, 0]
    assert pairs.candidates[0] == "C" and set(pairs.candidates[1:3]) == {"B", "D"}
    assert pairs.candidates[3] == "A" and set(pairs.candidates[4:6]) == {"B", "C"}
    assert pairs.histories[0] == "Liked: A." and pairs.histories[3] == "No history."
    # Each pair's prior is its retrieval score standardised over the case's top 3.
    assert np.isclose(pairs.prior[0], standardised(np.array([[5, 4, 3.]]))[0, 1])
    assert np.isnan(pairs.rating).all()  # no rating to learn from a next-item case


def test_the_top_n_is_lifted_above_the_rest_in_the_scorers_order() -> None:
    reranked = RerankRecommender(_Retrieval(), _Reversing(), _catalog(), 3,
                                 RankerConfig().model.history)
    scores = reranked.score(np.array([0, 2]), [np.array([0]), np.array([], np.int64)],
                            [np.zeros(1, np.int64), np.zeros(0, np.int64)])
    order = np.argsort(-scores, axis=1, kind="stable")
    # user 0: retrieval's top 3 without the seen item 0 (1, 2, 3) reversed, then the rest
    # in retrieval's order (the seen item keeps its score; the protocol masks it).
    assert order[0].tolist()[:3] == [3, 2, 1] and order[0].tolist()[3:] == [0, 4, 5]
    assert order[1].tolist() == [2, 1, 0, 3, 4, 5]
