"""Each dataset in ../shared/data loads with the counts its README table gives (skipped if absent).

README counts are over the source as published: online retail counts customers and
products over all 20,000 lines (cancellations included), amazon-bundle counts repeated
user-item-day rows, ml-latest-small counts rated movies (movies.csv lists 9,742). Those
are `Dataset.source`; what is kept after drops is checked too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from shelflm.data.loaders import load_bundle_intents
from shelflm.data.loaders import load_dataset as _load_dataset
from shelflm.data.schema import Dataset
from shelflm.data.stats import dataset_stats

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

# folder: (users, items, interactions) as in ../shared/data/README.md
README_COUNTS = {
    "ml-100k": (943, 1_682, 100_000),
    "ml-latest-small": (610, 9_724, 100_836),
    "amazon-beauty": (22_363, 12_101, 198_502),
    "amazon-bundle/electronic": (888, 3_499, 6_165),
    "amazon-bundle/clothing": (965, 4_487, 6_326),
    "amazon-bundle/food": (879, 3_767, 6_395),
    "online-retail-sample": (756, 2_226, 20_000),
}


@cache
def load_dataset(path: Path) -> Dataset:
    """Each shared set is loaded once per test session (the tests only read it)."""
    return _load_dataset(path)


@pytest.mark.parametrize("folder", list(README_COUNTS))
def test_source_counts_match_readme(shared_data: Path, folder: str) -> None:
    ds = load_dataset(shared_data / folder)
    assert ds.source is not None
    assert (ds.source.users, ds.source.items, ds.source.rows) == README_COUNTS[folder]
    # Nothing vanishes silently: kept rows plus rows dropped on purpose are the source rows.
    assert len(ds.interactions) + ds.dropped.total == ds.source.rows
    stats = dataset_stats(ds)
    assert stats["source"]["users"] == README_COUNTS[folder][0]


def test_ml_latest_small_details(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "ml-latest-small")
    assert ds.num_items == 9_742  # the catalog keeps unrated movies
    assert ds.source is not None and ds.source.extra == {"tags": 3_683}
    ratings = ds.interactions.events["value"]
    assert (ratings.min(), ratings.max()) == (0.5, 5.0)


def test_amazon_beauty_has_no_clock_and_seven_empty_titles(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "amazon-beauty")
    assert ds.has_time is False
    assert int((ds.catalog.items["title"] == "").sum()) == 7
    assert dataset_stats(ds)["time_span"] is None


def test_online_retail_sample_drops(shared_data: Path) -> None:
    ds = load_dataset(shared_data / "online-retail-sample")
    assert ds.source is not None and ds.source.extra["cancellations"] == 458
    assert ds.dropped.counts["cancellation (invoice C..., negative quantity)"] == 458
    assert ds.num_items == 2_226 and ds.num_users == 700  # 56 customers only cancelled
    assert not ds.catalog.items["title"].str.contains("_").any()


def test_bundle_intents(shared_data: Path) -> None:
    intents = load_bundle_intents(shared_data / "amazon-bundle" / "food")
    assert len(intents) == 1_784
    assert intents["items"].map(len).min() >= 2  # every bundle has at least two items
    assert intents.iloc[0]["intent"] == "Asian food products"
