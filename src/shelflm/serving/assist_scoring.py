"""How the shopping assistant scores the catalog for a conversation: pure numpy, so the
offline benchmark (benchmarks/intent.py) measures exactly what `/assist` serves.

    score(item) = (1 - c) * sum_t d^age(t) [cos(q_t, item) + l * bm25_t(item) / max bm25_t]
                            / sum_t d^age(t)
                  + c * cos(shopper context, item)

over the conversation's turns t that say what is wanted (age 0: the newest; d: `decay`;
l: `lexical_weight`), and the shopper's context (the mean text vector of their recent items,
c: `context_weight`). A follow-up that only refines ("cheaper", "not that brand") adds no
turn: its constraints change, the wish does not. A turn that names something new outweighs
the older ones, which fade by `decay` each turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shelflm.serving.ranking import unit
from shelflm.text.lexical import scaled


@dataclass
class Turn:
    """One turn's contribution: its unit query vector and its BM25 scores (None: none)."""

    query: np.ndarray
    bm25: np.ndarray | None = None


def context_vector(text: np.ndarray, rows: Sequence[int]) -> np.ndarray | None:
    """The unit mean text vector of the shopper's items `rows` (None: no items)."""
    if not len(rows):
        return None
    return unit(text[np.asarray(rows, np.int64)].mean(0))


def conversation_scores(text: np.ndarray, turns: Sequence[Turn], *, decay: float,
                        lexical_weight: float, context: np.ndarray | None = None,
                        context_weight: float = 0.0) -> np.ndarray:
    """(n,) scores of every row of `text` (unit item text vectors) for a conversation whose
    turns are oldest first; see the module docstring."""
    if not turns:
        raise ValueError("a conversation needs at least one turn that says what is wanted")
    if not 0.0 <= decay <= 1.0 or not 0.0 <= context_weight <= 1.0:
        raise ValueError("decay and context_weight must be in [0, 1]")
    weights = np.array([decay ** age for age in range(len(turns) - 1, -1, -1)], np.float32)
    weights = weights / weights.sum()
    share = context_weight if context is not None else 0.0
    query = sum(w * t.query for w, t in zip(weights, turns, strict=True)) * (1 - share)
    if share:
        query = query + share * context  # one product with the catalog: it is the cost
    scores = text @ np.asarray(query, np.float32)
    if lexical_weight:
        for w, turn in zip(weights, turns, strict=True):
            if turn.bm25 is not None:
                lexical = np.float32(w * lexical_weight * (1 - share))
                scores = scores + lexical * scaled(turn.bm25)
    return scores.astype(np.float32)
