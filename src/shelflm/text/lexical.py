"""Lexical matching for free-text questions: BM25 (the `bm25s` library) over items' short
text, and the hybrid score that fuses it with the dense (language-model) cosine.

Why both: a sentence embedding knows that "trail boots" are for hiking, but it blurs exact
tokens (a model number, a brand, a size); BM25 is exact and knows nothing else. The fused
score is `cosine + weight * bm25 / max bm25` (the BM25 part scaled to [0, 1] per query, so
one weight carries across queries and catalogs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import numpy as np
import pandas as pd

_TOKEN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
# Words that carry no product meaning in a shopper's sentence: BM25's idf would still give
# them weight on a small catalog where few titles hold them.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i",
    "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that", "the", "their",
    "them", "this", "to", "was", "we", "what", "which", "who", "with", "would", "you", "your",
    "some", "something", "anything", "any", "need", "want", "looking", "look", "good", "great",
    "best", "please"})


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of `text`; a model number like "XR-500" stays one token
    ("xr-500") and also yields its glued form ("xr500"), so either spelling matches."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in STOPWORDS:
            continue
        out.append(tok)
        glued = tok.replace("-", "").replace(".", "")
        if glued != tok:
            out.append(glued)
    return out


def document(title: str, brand: str, category: str) -> str:
    """The text BM25 reads for one item: its short fields, where exact terms live (a long
    description would drown them)."""
    return f"{title} {brand} {category}"


def item_documents(items: pd.DataFrame) -> list[str]:
    """`document` of every catalog row (missing fields read as empty)."""
    fields = [items[c].astype("string").fillna("").tolist() if c in items.columns
              else [""] * len(items) for c in ("title", "brand", "category")]
    return [document(*row) for row in zip(*fields, strict=True)]


class LexicalIndex:
    """BM25 scores of a query against a fixed list of documents (row i = document i)."""

    def __init__(self, documents: Sequence[str]) -> None:
        self.size = len(documents)
        self._bm25: bm25s.BM25 | None = None
        corpus = [tokens(d) for d in documents]
        if any(corpus):  # bm25s cannot index a corpus without a single token
            self._bm25 = bm25s.BM25()
            self._bm25.index([c or [""] for c in corpus], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """(size,) float32 BM25 scores of `query`; zeros when no query term is in the corpus."""
        terms = tokens(query)
        if self._bm25 is None or not terms:
            return np.zeros(self.size, np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._bm25.get_scores(known), np.float32)


def scaled(bm25: np.ndarray) -> np.ndarray:
    """BM25 scores divided by their maximum (all zeros stay zeros)."""
    top = float(bm25.max()) if len(bm25) else 0.0
    return bm25 / top if top > 0 else np.zeros_like(bm25)


def hybrid(dense: np.ndarray, bm25: np.ndarray, weight: float) -> np.ndarray:
    """The fused score: `dense + weight * bm25 / max(bm25)`; weight 0 is the dense score."""
    if weight == 0:
        return dense
    return dense + np.float32(weight) * scaled(bm25)


def matched_terms(query: str, document: str) -> list[str]:
    """The query's terms that the document holds, in query order, each once."""
    have = set(tokens(document))
    out: list[str] = []
    for term in tokens(query):
        if term in have and term not in out and not any(term in o for o in out):
            out.append(term)
    return out
