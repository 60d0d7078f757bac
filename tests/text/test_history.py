"""A history as one short text: most recent first, deduplicated, cut, grouped, and blank
items left out."""

from __future__ import annotations

import numpy as np
import pytest

from shelflm.data.pair_cases import PairCases
from shelflm.text.history import HistoryTextConfig, history_text, pair_texts


def test_most_recent_first_each_item_once_with_its_latest_label() -> None:
    texts = ["Old Movie", "Fargo", "Old Movie", "Heat"]
    liked = [True, False, False, True]
    out = history_text(texts, liked, HistoryTextConfig())
    assert out == "Liked: Heat. Disliked: Old Movie; Fargo."
    keep_all = history_text(texts, liked, HistoryTextConfig(dedupe=False))
    assert keep_all == "Liked: Heat; Old Movie. Disliked: Old Movie; Fargo."
    assert history_text(texts, liked, HistoryTextConfig(last_k=1)) == "Liked: Heat."


def test_cut_grouped_and_blank_items() -> None:
    config = HistoryTextConfig(item_chars=5, group_by_category=True)
    out = history_text(["Fargo  (1996)", "Heat", "Up"], [True, True, True], config,
                       categories=["Movies > Crime", "Movies > Crime", "Movies > Kids"])
    assert out == "Liked: Kids: Up; Crime: Heat, Fargo."
    assert history_text(["", "  "], [True, False], HistoryTextConfig()) == "No history."
    assert history_text([], [], HistoryTextConfig()) == "No history."
    with pytest.raises(ValueError, match="length"):
        history_text(["a"], [True, False], HistoryTextConfig())
    with pytest.raises(ValueError, match="last_k"):
        HistoryTextConfig(last_k=0)


def test_pair_texts_reads_the_catalog_rows() -> None:
    cases = PairCases(np.zeros(1, np.int64), np.array([[0, 1]]), np.array([[True, False]]),
                      np.array([2]), np.array([True]), np.array([4.0], np.float32))
    out = pair_texts(cases, ["A", "B", "C"], HistoryTextConfig())
    assert out.histories == ["Liked: A. Disliked: B."] and out.candidates == ["C"]
    assert out.liked.tolist() == [1.0] and out.rating.tolist() == [4.0]
