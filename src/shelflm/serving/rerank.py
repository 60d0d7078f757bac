"""The optional second stage of personal and session answers ([serving.rerank]): the
cross-encoder of `shelflm train --model cross-encoder` reorders retrieval's first N items.

It reads what the engine holds: the titles (and category paths) of the shopper's recent
items and of the candidates, so a product added while serving is reranked like any other;
an item without a title is named by nothing (a history of such reads "No history.", a
candidate scores on the history alone). Each candidate brings retrieval's score,
standardised over the N, as its prior, as in training (training/rerank.py).

Scoring runs in chunks outside the engine's lock; before each chunk after the first, if
the time spent plus the last chunk's time would pass the budget, it stops and the answer
keeps retrieval's order (counted as over_budget). A scoring error does the same (failed).
It scores on the artifact's ONNX graph ([serving.rerank] runtime: fp32 or its int8 copy);
an artifact saved without one scores on PyTorch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from shelflm.data.pair_cases import standardised
from shelflm.serving.items import ItemTable
from shelflm.serving.ranking import Answer
from shelflm.serving.stage_config import RerankConfig
from shelflm.text.history import history_text

OUTCOMES = ("reranked", "over_budget", "failed")


@dataclass
class RerankInput:
    """What one request's reranking reads, taken from the engine's state under its lock."""

    history: str
    candidates: list[str]  # the first N items' titles


class Reranker:
    """A loaded cross-encoder and its counters (thread-safe)."""

    def __init__(self, config: RerankConfig, directory: Path) -> None:
        # Deferred: the engine imports this module, and it must load without torch.
        from shelflm.models.cross_artifact import ONNX, ONNX_INT8, read_cross_encoder
        from shelflm.models.cross_onnx import OnnxCrossEncoder

        model, _ = read_cross_encoder(directory)
        onnx = directory / (ONNX_INT8 if config.runtime == "onnx-int8" else ONNX)
        self.scorer = OnnxCrossEncoder(onnx, model, config.threads) if onnx.is_file() else model
        self.config, self.history = config, model.config.history
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.seconds = 0.0  # summed over every reranking, whatever its outcome
        self.pairs_cut = 0  # pairs longer than the token budget (cut, still scored)

    def inputs(self, items: ItemTable, slots: np.ndarray, answer: Answer) -> RerankInput:
        """Under the engine's lock: the texts of the history (item slots, oldest first) and
        of the answer's first N items."""
        slots = np.asarray(slots, np.int64)
        titles = [items.titles[s] or "" for s in slots]
        cats = [items.categories[s] or "" for s in slots]
        text = history_text(titles, np.ones(len(slots), bool), self.history, cats, slots)
        return RerankInput(text, [r.title or "" for r in answer.items[:self.config.top_n]])

    def rerank(self, answer: Answer, given: RerankInput, k: int) -> Answer:
        """`answer` with its first N reordered by the cross-encoder (their scores: its like
        probabilities), cut to k; retrieval's order when over budget or failing."""
        n = len(given.candidates)
        if n < 2:
            return _cut(answer, k)
        start = time.perf_counter()
        try:
            probs = self._score(given, np.array([r.score for r in answer.items[:n]]), start)
        except Exception:  # noqa: BLE001 - a broken second stage must not fail the answer
            probs = None
            self._count("failed", start)
        else:
            self._count("reranked" if probs is not None else "over_budget", start)
        if probs is None:
            return _cut(replace(answer, revision=None), k)  # not the reranked answer: no reuse
        order = np.argsort(-probs, kind="stable")
        head = [replace(answer.items[i], score=float(probs[i])) for i in order]
        return _cut(replace(answer, items=head + answer.items[n:]), k)

    def _score(self, given: RerankInput, scores: np.ndarray, start: float
               ) -> np.ndarray | None:
        """Like probabilities of the N pairs, or None once the budget would be passed."""
        # Deferred: loaded already (by __init__), but this module must import without it.
        import torch

        prior = standardised(scores[None])[0]
        budget, step, out, last, cuts = self.config.budget_ms / 1000, self.config.chunk, [], 0., 0
        for lo in range(0, len(prior), step):
            if out and time.perf_counter() - start + last > budget:
                return None
            began = time.perf_counter()
            part = given.candidates[lo:lo + step]
            batch, cut = self.scorer.tokenize([given.history] * len(part), part)
            with torch.inference_mode():
                logits, _ = self.scorer(batch, torch.from_numpy(prior[lo:lo + step]))
            out.append(torch.sigmoid(logits).numpy())
            cuts += cut
            last = time.perf_counter() - began
        with self._lock:  # requests score side by side: the count is shared
            self.pairs_cut += cuts
        return np.concatenate(out)

    def _count(self, outcome: str, start: float) -> None:
        with self._lock:
            self.counts[outcome] += 1
            self.seconds += time.perf_counter() - start

    def stats(self) -> dict:
        """Counts by outcome, seconds spent and pairs cut, for GET /metrics and /info."""
        with self._lock:
            return {**self.counts, "seconds": self.seconds, "pairs_cut": self.pairs_cut}


def _cut(answer: Answer, k: int) -> Answer:
    return answer if len(answer.items) <= k else replace(answer, items=answer.items[:k])


def make_reranker(config: RerankConfig) -> Reranker | None:
    """The configured second stage, or None when [serving.rerank] names no artifact."""
    return None if config.artifact is None else Reranker(config, Path(config.artifact))


def wanted(reranker: Reranker | None, k: int) -> int:
    """How many items to retrieve for an answer of k."""
    return k if reranker is None else max(k, reranker.config.top_n)


def stage(reranker: Reranker | None, items: ItemTable, slots: np.ndarray, answer: Answer,
          k: int) -> Callable[[], Answer]:
    """Under the engine's lock: what finishes `answer` (of wanted(k) items) outside it:
    the reranking, or for no reranker or a popular answer, the answer cut to k."""
    if reranker is None or answer.source == "popular" or not len(slots):
        return lambda: _cut(answer, k)
    given = reranker.inputs(items, slots, answer)
    return lambda: reranker.rerank(answer, given, k)
