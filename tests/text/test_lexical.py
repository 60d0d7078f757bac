"""BM25 over items' short text: exact terms (model numbers, brands) score, and the hybrid
score adds the scaled BM25 part to the dense cosine."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelflm.text.lexical import LexicalIndex, hybrid, item_documents, matched_terms, tokens


def test_a_model_number_matches_in_either_spelling() -> None:
    index = LexicalIndex(["Trail boots XR-500", "Trail boots XR-300", "coffee pods"])
    for query in ("xr500", "XR-500 boots"):
        scores = index.scores(query)
        assert scores.argmax() == 0 and scores[0] > scores[1] >= scores[2] == 0


def test_unknown_or_empty_queries_score_zero_and_an_empty_corpus_indexes() -> None:
    index = LexicalIndex(["hiking socks", ""])
    assert not index.scores("kayak").any() and not index.scores("the a").any()
    assert not LexicalIndex(["", ""]).scores("socks").any()


def test_stopwords_are_not_terms() -> None:
    assert tokens("Something for a dad who hikes") == ["dad", "hikes"]


def test_hybrid_adds_the_scaled_lexical_part() -> None:
    dense, bm25 = np.array([0.5, 0.4], np.float32), np.array([0.0, 4.0], np.float32)
    assert np.allclose(hybrid(dense, bm25, 0.2), [0.5, 0.6])
    assert hybrid(dense, bm25, 0.0) is dense
    assert np.allclose(hybrid(dense, np.zeros(2, np.float32), 1.0), dense)


def test_documents_are_title_brand_and_category_and_terms_are_reported_once() -> None:
    items = pd.DataFrame({"title": ["Boots"], "brand": ["Acme"], "category": ["Outdoor"]})
    assert item_documents(items) == ["Boots Acme Outdoor"]
    assert matched_terms("acme boots, acme", "Boots Acme Outdoor") == ["acme", "boots"]
