"""Amazon review loaders on tiny files in the official 2014 and 2018 JSON-lines formats."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import detect_format, load_amazon_reviews, load_dataset

REVIEWS = [
    {"reviewerID": "A1", "asin": "B001", "reviewerName": "Ann", "helpful": [0, 0],
     "reviewText": "Nice.", "overall": 5.0, "summary": "ok", "unixReviewTime": 1356998400,
     "reviewTime": "01 1, 2013"},
    {"reviewerID": "A1", "asin": "B002", "overall": 3.0, "unixReviewTime": 1357084800},
    {"reviewerID": "A2", "asin": "B001", "overall": 4.0, "unixReviewTime": 1357171200},
    {"reviewerID": "A2", "asin": "B009", "overall": 1.0, "unixReviewTime": 1357257600},
]
META_2014 = [  # Python dict literals, as the 2014 metadata files are written
    {"asin": "B001", "title": "Rose Lip Balm", "price": 4.5, "brand": "Bloom",
     "categories": [["Beauty", "Skin Care", "Lips"], ["Beauty", "Gifts"]],
     "salesRank": {"Beauty": 1234}, "description": "Soft & smooth."},
    {"asin": "B002", "title": "Mint Shampoo", "categories": [["Beauty", "Hair Care"]]},
]
META_2018 = [
    {"asin": "B001", "title": "Rose Lip Balm", "brand": "Bloom", "price": "$12.99",
     "category": ["All Beauty", "Lips"], "description": ["Soft.", "Smooth &amp; shiny."],
     "main_cat": "All Beauty"},
    {"asin": "B002", "title": "Mint Shampoo", "price": ".a-box{margin:0 12px}", "category": [],
     "description": []},
    {"asin": "B002", "title": "Mint Shampoo", "price": "", "category": [], "description": []},
]


def write_lines(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_2014_reviews_and_python_literal_metadata(tmp_path: Path, suffix: str) -> None:
    reviews = write_lines(tmp_path / f"reviews_Beauty_5{suffix}", [json.dumps(r) for r in REVIEWS])
    meta = write_lines(tmp_path / f"meta_Beauty{suffix}", [repr(m) for m in META_2014])
    ds = load_amazon_reviews(reviews, meta)
    assert ds.name == "Beauty_5"
    assert (ds.num_users, len(ds.interactions)) == (2, 4)
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["B001", "category"] == "Beauty > Skin Care > Lips"
    assert items.loc["B001", "price"] == 4.5
    assert items.loc["B001", "brand"] == "Bloom"
    assert items.loc["B001", "description"] == "Soft & smooth."
    assert np.isnan(items.loc["B002", "price"])
    # B009 was reviewed but has no metadata line: a title-less row, counted.
    assert items.loc["B009", "title"] == ""
    assert ds.source is not None
    assert ds.source.extra == {"items without metadata (title-less catalog rows created)": 1}
    assert set(ds.interactions.events["event"]) == {"rating"}


def test_2018_metadata_price_text_and_repeated_lines(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "All_Beauty.json.gz", [json.dumps(r) for r in REVIEWS])
    write_lines(tmp_path / "meta_All_Beauty.json.gz", [json.dumps(m) for m in META_2018])
    assert detect_format(tmp_path) == "amazon-reviews"
    assert detect_format(reviews) == "amazon-reviews"
    ds = load_dataset(tmp_path)
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["B001", "price"] == pytest.approx(12.99)
    assert np.isnan(items.loc["B002", "price"])  # page CSS in the price field is no price
    assert items.loc["B001", "category"] == "All Beauty > Lips"
    assert items.loc["B001", "description"] == "Soft. Smooth & shiny."
    assert json.loads(items.loc["B001", "attributes"]) == {"main_cat": "All Beauty"}
    assert ds.source is not None
    assert ds.source.extra["repeated metadata lines (first kept)"] == 1
    assert ds.dropped.total == 0  # dropped counts event rows only


def test_reviews_without_metadata_make_title_less_items(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "Beauty.json", [json.dumps(r) for r in REVIEWS])
    ds = load_dataset(reviews)
    assert ds.num_items == 3
    assert (ds.catalog.items["title"] == "").all()


def test_exact_duplicate_reviews_are_counted(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "r.json", [json.dumps(REVIEWS[1])] * 3)
    ds = load_amazon_reviews(reviews)
    assert len(ds.interactions) == 1
    assert ds.dropped.counts == {"exact duplicate review": 2}


def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "r.json.gz",
                          [json.dumps(REVIEWS[0]), '{"reviewerID": "A2", "asin": '])
    with pytest.raises(DataError, match=r"r\.json\.gz, line 2: malformed JSON line"):
        load_amazon_reviews(reviews)


def test_missing_field_names_it(tmp_path: Path) -> None:
    bad = {k: v for k, v in REVIEWS[1].items() if k != "overall"}
    reviews = write_lines(tmp_path / "r.json", [json.dumps(REVIEWS[0]), json.dumps(bad)])
    with pytest.raises(DataError, match=r"line 2: field 'overall': missing required field"):
        load_amazon_reviews(reviews)


def test_rating_out_of_range(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "r.json", [json.dumps({**REVIEWS[0], "overall": 7})])
    with pytest.raises(DataError, match=r"line 1: field 'overall': rating 7 out of range"):
        load_amazon_reviews(reviews)


def test_metadata_line_without_asin(tmp_path: Path) -> None:
    reviews = write_lines(tmp_path / "r.json", [json.dumps(REVIEWS[0])])
    meta = write_lines(tmp_path / "meta.json", [repr(META_2014[0]), repr({"title": "x"})])
    with pytest.raises(DataError, match=r"meta\.json, line 2: field 'asin'"):
        load_amazon_reviews(reviews, meta)
