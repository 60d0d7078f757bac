"""Behaviour features: each measures what its name says, per user, the same for a user
scored alone as within a batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from risk_shop import START, burst_bot, shoppers
from shelflm.data.behaviour import BEHAVIOUR_FEATURES, BehaviourReference, behaviour_features
from shelflm.data.schema import Catalog

IDS = [f"i{i}" for i in range(20)]


@pytest.fixture
def reference() -> BehaviourReference:
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": IDS, "title": IDS,
                                               "category": ["A > x"] * 10 + ["B > y"] * 10}))
    return BehaviourReference.from_events(shoppers(IDS), catalog)


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "value"])


def test_one_row_per_user_with_every_feature(reference: BehaviourReference) -> None:
    f = behaviour_features(shoppers(IDS, 10, seed=3), reference)
    assert list(f.columns) == list(BEHAVIOUR_FEATURES)
    assert sorted(f.index) == sorted(f"u{i}" for i in range(10))
    assert np.isfinite(f.to_numpy()).all()


def test_a_burst_is_fast_regular_and_broad(reference: BehaviourReference) -> None:
    f = behaviour_features(pd.concat([burst_bot("bot", IDS, 80), shoppers(IDS, 5)]),
                           reference)
    bot, human = f.loc["bot"], f.drop(index="bot")
    assert bot["peak_per_minute"] == 80  # 80 events within 40 seconds
    assert bot["gap_median"] < human["gap_median"].min()
    assert bot["coverage"] == 1.0  # every one of the 20 items
    assert bot["sessions"] == np.log1p(1)
    assert bot["hour_typicality"] == 0.0  # 3 a.m.: no shopper of the reference shops then


def test_repeats_values_and_sessions(reference: BehaviourReference) -> None:
    mean = reference.item_mean["i0"]
    rows = [("u", "i0", START + k * 60, "purchase", mean) for k in range(8)]
    rows += [("u", "i1", START + 7200 + k * 60, "purchase", mean) for k in range(8)]
    f = behaviour_features(_events(rows), reference).loc["u"]
    assert f["distinct_share"] == pytest.approx(2 / 16)
    assert f["sessions"] == pytest.approx(np.log1p(2))  # a two-hour pause
    assert f["session_max"] == pytest.approx(np.log1p(8))
    assert f["purchase_share"] == 1.0
    assert f["value_deviation"] == pytest.approx(abs(reference.item_mean["i1"] - mean) / 2
                                                 / max(np.subtract(*reference.value_range[::-1]),
                                                       1e-9))


def test_a_user_alone_scores_as_in_a_batch(reference: BehaviourReference) -> None:
    batch = shoppers(IDS, 8, seed=5)
    together = behaviour_features(batch, reference)
    for user in ("u2", "u7"):
        alone = behaviour_features(batch[batch["user_id"] == user], reference)
        pd.testing.assert_series_equal(alone.loc[user], together.loc[user])
