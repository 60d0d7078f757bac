"""SASRec-style sequences.txt + items.csv, and RecBole atomic files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import detect_format, load_dataset, load_recbole, load_sequences


def write_sequences(folder: Path, lines: str, items: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "sequences.txt").write_text(lines)
    if items is not None:
        (folder / "items.csv").write_text(items)
    return folder


ITEMS = 'item_id,title\nB1,Lip Balm\nB2,"Shampoo, Mint"\nB3,\n'


def test_sequences_keep_order_and_have_no_clock(tmp_path: Path) -> None:
    folder = write_sequences(tmp_path / "beauty", "U1 B2 B1 B3\nU2 B1 B1\n", ITEMS)
    assert detect_format(folder) == "sequences"
    ds = load_dataset(folder)
    assert ds.has_time is False
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 3, 5)
    ev = ds.interactions.events
    u1 = ev[ev["user_id"] == "U1"]
    assert u1["item_id"].tolist() == ["B2", "B1", "B3"]
    assert u1["timestamp"].tolist() == [0, 1, 2]  # positions, not seconds
    assert set(ev["event"]) == {"purchase"}
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["B2", "title"] == "Shampoo, Mint"
    assert items.loc["B3", "title"] == ""


def test_sequence_line_without_items(tmp_path: Path) -> None:
    folder = write_sequences(tmp_path / "s", "U1 B1\nU2\n", ITEMS)
    with pytest.raises(DataError, match=r"sequences\.txt, line 2: .*expected a user then at least"):
        load_sequences(folder)


def test_sequence_user_twice(tmp_path: Path) -> None:
    folder = write_sequences(tmp_path / "s", "U1 B1\nU1 B2\n", ITEMS)
    with pytest.raises(DataError, match=r"line 2: field 'user_id': user 'U1' already has a line"):
        load_sequences(folder)


def test_sequence_item_missing_from_items_csv(tmp_path: Path) -> None:
    folder = write_sequences(tmp_path / "s", "U1 B1\nU2 B1 B7\n", ITEMS)
    with pytest.raises(DataError, match=r"sequences\.txt, line 2: field 'item_id': .* 'B7'"):
        load_sequences(folder)


def test_sequences_without_items_csv_are_title_less(tmp_path: Path) -> None:
    folder = write_sequences(tmp_path / "s", "U1 B1 B2\n")
    ds = load_sequences(folder / "sequences.txt")
    assert ds.num_items == 2
    assert ds.source is not None
    assert ds.source.extra == {"items without metadata (title-less catalog rows created)": 2}


INTER = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
         "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n")
ITEM = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "242\tKolya\t1996\tComedy\n302\tL.A. Confidential\t1997\tCrime Film-Noir\n")


def test_recbole_inter_and_item(tmp_path: Path) -> None:
    (tmp_path / "ml-100k.inter").write_text(INTER)
    (tmp_path / "ml-100k.item").write_text(ITEM)
    assert detect_format(tmp_path) == "recbole"
    ds = load_dataset(tmp_path)
    assert ds.name == "ml-100k"
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 2, 3)
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["302", "title"] == "L.A. Confidential"
    assert items.loc["302", "category"] == "Crime Film-Noir"
    assert json.loads(items.loc["242", "attributes"]) == {"release_year": "1996"}
    assert set(ds.interactions.events["event"]) == {"rating"}


def test_recbole_quoted_amazon_categories_and_no_timestamp(tmp_path: Path) -> None:
    (tmp_path / "b.inter").write_text("user_id:token\titem_id:token\nu1\ti1\nu1\ti2\n")
    (tmp_path / "b.item").write_text(
        "item_id:token\ttitle:token_seq\tcategories:token_seq\tprice:float\tbrand:token\n"
        "i1\tLip Balm\t'Beauty', 'Skin Care', 'Lips'\t4.5\tBloom\n"
        "i2\tShampoo\t'Beauty', 'Hair Care'\t\t\n")
    ds = load_recbole(tmp_path / "b.inter")
    assert ds.has_time is False
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["i1", "category"] == "Beauty > Skin Care > Lips"
    assert items.loc["i1", "price"] == 4.5
    assert set(ds.interactions.events["event"]) == {"purchase"}


def test_recbole_header_without_type(tmp_path: Path) -> None:
    (tmp_path / "x.inter").write_text("user_id:token\titem_id\n1\t2\n")
    with pytest.raises(DataError, match=r"x\.inter, line 1: field 'item_id': header 'item_id'"):
        load_recbole(tmp_path / "x.inter")


def test_recbole_bad_rating_and_unknown_item(tmp_path: Path) -> None:
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\trating:float\n1\t2\tfive\n")
    with pytest.raises(DataError, match=r"line 2: field 'rating': 'five' is not a number"):
        load_recbole(tmp_path / "x.inter")
    (tmp_path / "x.inter").write_text("user_id:token\titem_id:token\n1\t242\n1\t999\n")
    (tmp_path / "x.item").write_text(ITEM)
    with pytest.raises(DataError, match=r"line 3: field 'item_id': interaction for item '999'"):
        load_recbole(tmp_path / "x.inter")
