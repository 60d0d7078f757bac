"""Retrieval's top N reranked by the cross-encoder: the cases it learns from, its fit, and
the reranked model as an evaluation `Recommender` (the same full-ranking protocol as all).

The cross-encoder learns on the validation stage of a split, which the retrieval model
never trained on: per case whose target is in retrieval's top N for its history, the
history's text with the target (label 1) and `negatives` others drawn from that top N
(label 0). Each pair
brings retrieval's score standardised over the case's top N as its prior log-odds, so the
untrained reranker (its text head at zero) keeps retrieval's order exactly and training
learns what the text adds; the epoch kept is the one with the lowest BCE on a dev share
(training/cross_fit.py), the untrained start among them. Test cases stay untouched.
Items are read by their titles (as served: serving/rerank.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from shelflm.data.pair_cases import standardised
from shelflm.data.schema import Catalog
from shelflm.evaluation.protocol import Recommender
from shelflm.models.cross_artifact import build_cross_encoder
from shelflm.models.cross_encoder import CrossEncoder
from shelflm.text.history import HistoryTextConfig, PairTexts, history_text
from shelflm.training.config import RankerConfig
from shelflm.training.cross_fit import fit_cross, predict_cross

if TYPE_CHECKING:
    from shelflm.data.splits import EvalCases


def catalog_texts(catalog: Catalog) -> tuple[list[str], list[str]]:
    """(titles, category paths) per catalog row: what the reranker reads of an item."""
    items = catalog.items
    return items["title"].fillna("").astype(str).tolist(), \
        items["category"].fillna("").astype(str).tolist()


def shortlists(retrieval: Recommender, cases: EvalCases, n: int, batch: int = 512
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores (m, items), keys (m, n), standardised scores (m, n)): retrieval's full scores
    and its best n items per case, best first, the history's items left out."""
    full, keys = [], []
    for start in range(0, len(cases), batch):
        rows = np.arange(start, min(start + batch, len(cases)))
        hist = [np.asarray(cases.histories[i]) for i in rows]
        scores = np.asarray(retrieval.score(np.asarray(cases.users)[rows], hist,
                                            [np.asarray(cases.history_events[i]) for i in rows]),
                            np.float32)
        n = min(n, scores.shape[1])
        masked = scores.copy()
        for r, h in enumerate(hist):
            masked[r, h] = -np.inf
        top = np.argpartition(-masked, n - 1, axis=1)[:, :n]
        order = np.argsort(-np.take_along_axis(masked, top, 1), axis=1, kind="stable")
        full.append(scores)
        keys.append(np.take_along_axis(top, order, 1))
    scores, keys = np.concatenate(full), np.concatenate(keys)
    return scores, keys, standardised(np.take_along_axis(scores, keys, 1))


def history_texts(histories: Sequence[np.ndarray], titles: Sequence[str],
                  categories: Sequence[str], config: HistoryTextConfig) -> list[str]:
    """Each history (item rows, oldest first) as the reranker's first segment."""
    texts, cats = np.asarray(titles, object), np.asarray(categories, object)
    return [history_text(texts[h], np.ones(len(h), bool), config, cats[h], h)
            for h in (np.asarray(h, np.int64) for h in histories)]


def training_pairs(cases: EvalCases, keys: np.ndarray, prior_of: np.ndarray,
                   titles: Sequence[str], categories: Sequence[str], config: RankerConfig,
                   rng: np.random.Generator) -> PairTexts:
    """Per case the target (label 1, in its top N) and `config.negatives` others of its top N
    (label 0), each with its prior from `prior_of` (shortlists' standardised scores)."""
    texts = history_texts(cases.histories, titles, categories, config.model.history)
    hist, cand, prior, liked = [], [], [], []
    targets = np.asarray(cases.targets)
    for j, target in enumerate(targets.tolist()):
        others = keys[j][keys[j] != target]
        picked = rng.choice(others, min(config.negatives, len(others)), replace=False)
        for item, label in ((target, 1.0), *((int(i), 0.0) for i in picked)):
            hist.append(texts[j])
            cand.append(titles[item])
            prior.append(prior_of[j, int(np.flatnonzero(keys[j] == item)[0])])
            liked.append(label)
    n = len(cand)
    return PairTexts(hist, cand, np.asarray(prior, np.float32), np.asarray(liked, np.float32),
                     np.full(n, np.nan, np.float32))


def ranker_pairs(retrieval: Recommender, cases: EvalCases, catalog: Catalog,
                 config: RankerConfig, rng: np.random.Generator) -> tuple[PairTexts, float]:
    """(training_pairs of the cases whose target is in retrieval's top N, at most
    `config.cases` of them drawn by `rng`; the share of `cases` with the target in it).

    A target outside the top N is never among the candidates a reranker sees; trained on
    such targets (their low retrieval score against the list's high ones) it would learn
    to turn retrieval's order upside down."""
    _, keys, prior = shortlists(retrieval, cases, config.candidates)
    listed = np.flatnonzero((keys == np.asarray(cases.targets)[:, None]).any(1))
    picked = listed if len(listed) <= config.cases else np.sort(
        rng.choice(listed, config.cases, replace=False))
    titles, categories = catalog_texts(catalog)
    pairs = training_pairs(cases.take(picked), keys[picked], prior[picked], titles,
                           categories, config, rng)
    return pairs, len(listed) / max(len(cases), 1)


def fit_ranker(retrieval: Recommender, valid: EvalCases, catalog: Catalog,
               config: RankerConfig) -> tuple[CrossEncoder, dict]:
    """A cross-encoder fitted on ranker_pairs of the validation cases (drawn by
    `config.training.seed`); the fit's report plus the pair count and top-N share."""
    rng = np.random.default_rng(config.training.seed)
    pairs, in_top = ranker_pairs(retrieval, valid, catalog, config, rng)
    torch.manual_seed(config.training.seed)
    model = build_cross_encoder(config.model)
    report = fit_cross(model, pairs, config.training)
    return model, report | {"pairs": len(pairs), "targets_in_top_n": in_top}


class RerankRecommender:
    """Retrieval's scores with each history's top `n` reordered by the cross-encoder (they
    stay above every other item); `model` is a CrossEncoder or its ONNX scorer."""

    def __init__(self, retrieval: Recommender, model: object, catalog: Catalog, n: int,
                 history: HistoryTextConfig, name: str = "reranked") -> None:
        self.retrieval, self.model, self.n, self.history = retrieval, model, n, history
        self.titles, self.categories = catalog_texts(catalog)
        self.name = name
        self.truncated = 0  # pairs cut to the token budget, over every score() call

    def fit(self, split: object) -> None:
        """Nothing to learn here: both stages come fitted."""

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """(n_users, items): retrieval's scores, its top n lifted above the rest in the
        cross-encoder's order."""
        cases = _Cases(users, histories, history_events)
        scores, keys, prior = shortlists(self.retrieval, cases, self.n)
        texts = history_texts(histories, self.titles, self.categories, self.history)
        m, n = keys.shape
        pairs = PairTexts([t for t in texts for _ in range(n)],
                          [self.titles[i] for i in keys.ravel()], prior.ravel(),
                          np.zeros(m * n, np.float32), np.full(m * n, np.nan, np.float32))
        probs, _, cut = predict_cross(self.model, pairs)
        self.truncated += cut
        rows = np.repeat(np.arange(m), n)
        scores[rows, keys.ravel()] = scores.max(1)[rows] + 1 + probs  # above all the rest
        return scores


class _Cases:
    """The part of EvalCases that `shortlists` reads, for score()'s arguments."""

    def __init__(self, users: np.ndarray, histories: Sequence[np.ndarray],
                 history_events: Sequence[np.ndarray]) -> None:
        self.users, self.histories, self.history_events = users, histories, history_events

    def __len__(self) -> int:
        return len(self.histories)
