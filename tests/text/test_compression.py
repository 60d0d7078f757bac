"""Sequence compression: filtering, collapsing repeats, keep-last, weights and the report."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from shelflm.text.compression import SequenceCompressor, SequenceCompressorConfig


def test_collapse_filter_keep_last_and_report() -> None:
    items = np.array([3, 3, 3, 5, 5, 7, 3, 9])
    events = ["view", "click", "view", "view", "purchase", "view", "add_to_cart", "view"]
    tokens = np.arange(10) + 1  # item i has i+1 tokens
    out = SequenceCompressor(SequenceCompressorConfig(keep_last=4)).compress(
        items, events, np.arange(8), item_tokens=tokens)
    # Runs [3,3,3] [5,5] [7] [3] [9] -> 5 positions, last 4 kept.
    assert out.items.tolist() == [5, 7, 3, 9]
    assert out.events.tolist() == [3, 0, 2, 0]  # purchase kept as the run's strongest event
    assert out.weights.tolist() == [4.0, 1.0, 2.5, 1.0]
    assert out.timestamps.tolist() == [4, 5, 6, 7]
    r = out.report
    assert (r.positions_before, r.positions_after) == (8, 4)
    assert r.tokens_before == int(tokens[items].sum())
    assert r.tokens_after == 6 + 8 + 4 + 10
    assert 0 < r.token_saving < 1 and r.position_saving == 0.5


def test_min_event_filters_weak_events_and_sorts_by_time() -> None:
    cfg = SequenceCompressorConfig(min_event="add_to_cart", keep_last=None)
    out = SequenceCompressor(cfg).compress([1, 2, 3, 4], ["purchase", "view", "add_to_cart",
                                                          "click"], [40, 10, 20, 30])
    assert out.items.tolist() == [3, 1]


def test_compress_many_sums_reports() -> None:
    comp = SequenceCompressor(SequenceCompressorConfig(keep_last=2))
    seqs, total = comp.compress_many([([1, 1, 2], [0, 0, 0], [1, 2, 3]), ([4], [3], [1])])
    assert [s.items.tolist() for s in seqs] == [[1, 2], [4]]
    assert (total.sequences, total.positions_before, total.positions_after) == (2, 4, 3)
    assert "4 -> 3 positions" in total.summary()


def test_bad_input_named() -> None:
    comp = SequenceCompressor()
    with pytest.raises(ValueError, match="'like' at position 1"):
        comp.compress([1, 2], ["view", "like"], [1, 2])
    with pytest.raises(ValueError, match="differ in length"):
        comp.compress([1, 2], ["view"], [1, 2])
    with pytest.raises(ValidationError, match="min_event"):
        SequenceCompressorConfig(min_event="glance")
    with pytest.raises(ValidationError, match="no weight"):
        SequenceCompressorConfig(event_weights={"view": 1.0})
