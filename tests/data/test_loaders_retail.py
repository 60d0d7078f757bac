"""UCI Online Retail CSV and the amazon-bundle session/intent folders, on tiny self-made files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import (
    detect_format,
    load_amazon_bundle,
    load_bundle_intents,
    load_dataset,
    load_online_retail,
)
from shelflm.data.loaders.amazon_bundle import parse_categories

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RETAIL_LINES = [
    "536365,85123A,WHITE_HANGING_HEART_T_LIGHT_HOLDER,6,2010-12-01 08:26:00,2.55,17850,"
    "United_Kingdom",
    "536365,71053,WHITE_METAL_LANTERN,6,2010-12-01 08:26:00,3.39,17850,United_Kingdom",
    "536365,71053,WHITE_METAL_LANTERN,6,2010-12-01 08:26:00,3.39,17850,United_Kingdom",
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United_Kingdom",
    "536380,71053,WHITE_METAL_LANTERN,2,2010-12-02 10:00:00,3.39,,France",
    "536381,85123A,WHITE_HANGING_HEART_T_LIGHT_HOLDER,12,2010-12-03 11:00:00,2.95,13047.0,France",
]


def write_retail(path: Path, lines: list[str] | None = None) -> Path:
    path.write_text("\n".join([RETAIL_HEADER, *(lines or RETAIL_LINES)]) + "\n")
    return path


def test_online_retail_drops_and_counts_on_purpose(tmp_path: Path) -> None:
    path = write_retail(tmp_path / "online_retail.csv")
    assert detect_format(path) == "online-retail"
    assert detect_format(tmp_path) == "online-retail"
    ds = load_dataset(path)
    assert ds.dropped.counts == {
        "cancellation (invoice C..., negative quantity)": 1,
        "no CustomerID": 1,
        "exact duplicate invoice line": 1,
    }
    assert (ds.num_users, len(ds.interactions)) == (2, 3)
    assert ds.num_items == 3  # every stock code on any line, the cancelled "D" included
    assert ds.source is not None
    assert (ds.source.rows, ds.source.users, ds.source.items) == (6, 3, 3)
    assert ds.source.extra == {"cancellations": 1}
    assert len(ds.interactions) + ds.dropped.total == ds.source.rows  # nothing lost silently
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["85123A", "title"] == "WHITE HANGING HEART T LIGHT HOLDER"
    assert items.loc["85123A", "price"] == pytest.approx(2.75)  # median unit price
    ev = ds.interactions.events
    assert ev[ev["user_id"] == "13047"]["value"].tolist() == [12.0]  # quantity, id without .0
    assert ev["timestamp"].min() == 1291191960  # 2010-12-01 08:26 UTC


def test_online_retail_us_dates(tmp_path: Path) -> None:
    lines = [RETAIL_LINES[0].replace("2010-12-01 08:26:00", "12/1/2010 8:26")]
    ds = load_online_retail(write_retail(tmp_path / "r.csv", lines))
    assert ds.interactions.events["timestamp"].tolist() == [1291191960]


def test_online_retail_latin1_export(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    line = RETAIL_LINES[0].replace("WHITE_HANGING_HEART_T_LIGHT_HOLDER", "CAFÉ_MUG")
    path.write_bytes((RETAIL_HEADER + "\n" + line + "\n").encode("latin-1"))
    ds = load_online_retail(path)
    assert ds.catalog.items["title"].tolist() == ["CAFÉ MUG"]


def test_online_retail_bad_values_are_named(tmp_path: Path) -> None:
    lines = [RETAIL_LINES[0], RETAIL_LINES[1].replace(",6,", ",six,")]
    with pytest.raises(DataError, match=r"r\.csv, line 3: field 'Quantity': 'six' is not an int"):
        load_online_retail(write_retail(tmp_path / "r.csv", lines))
    lines = [RETAIL_LINES[0].replace("2010-12-01 08:26:00", "soon")]
    with pytest.raises(DataError, match=r"line 2: field 'InvoiceDate': unparsable timestamp"):
        load_online_retail(write_retail(tmp_path / "r.csv", lines))


def test_online_retail_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,Country\n")
    with pytest.raises(DataError, match=r"r\.csv: field 'CustomerID': missing required column"):
        load_online_retail(path)


def write_bundle(folder: Path, sep: str = ",") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "user_item.csv": [["user ID", "item ID", "timestamp"], ["0", "7", "1392249600"],
                          ["0", "9", "1392249600"], ["0", "9", "1392249600"],
                          ["1", "7", "1401408000"]],
        "item_titles.csv": [["item ID", "titles"], ["7", '"Hummus Chips, Original"'],
                            ["9", '"Red, White &amp; Blue Tea"']],
        "item_categories.csv": [
            ["item ID", "categories"],
            ["7", '"[[Grocery & Gourmet Food,Snack Foods,Chips & Crisps]]"'],
            ["9", '"[[Grocery & Gourmet Food,Beverages,Coffee, Tea & Cocoa,Tea],'
                  '[Grocery & Gourmet Food,Gifts]]"']],
        "bundle_intent.csv": [["bundle ID", "intent"], ["0", "Snacks and tea"]],
        "bundle_item.csv": [["bundle ID", "item ID"], ["0", "7"], ["0", "9"]],
    }
    for name, rows in files.items():
        text = "\n".join(sep.join(row) for row in rows) + "\n"
        if sep == "\t":
            text = text.replace('"', "")  # tab files need no quoting
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("sep", [",", "\t"])
def test_amazon_bundle_folder(tmp_path: Path, sep: str) -> None:
    folder = write_bundle(tmp_path / "food", sep)
    assert detect_format(folder) == "amazon-bundle"
    ds = load_dataset(folder)
    assert ds.name == "amazon-bundle-food"
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 2, 3)
    assert ds.dropped.counts == {"exact duplicate user-item-day row": 1}
    assert ds.source is not None and ds.source.rows == 4
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["9", "title"] == "Red, White & Blue Tea"
    assert items.loc["9", "category"] == (
        "Grocery & Gourmet Food > Beverages > Coffee, Tea & Cocoa > Tea")
    assert len(json.loads(items.loc["9", "attributes"])["category_paths"]) == 2
    intents = load_bundle_intents(folder)
    assert intents.to_dict("records") == [
        {"bundle_id": "0", "intent": "Snacks and tea", "items": ["7", "9"]}]


def test_amazon_bundle_sessions_are_ordered_sequences(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "food")
    (folder / "session_item.csv").write_text(
        "session ID,item ID\n5,9\n5,7\n5,9\n6,7\n6,99\n6,9\n8,7\n")
    (folder / "user_session.csv").write_text("user ID,session ID,timestamp\n0,5,1392249600\n"
                                             "1,6,1401408000\n")  # session 8 has no time
    ds = load_dataset(folder, format="amazon-bundle-sessions")
    assert detect_format(folder) == "amazon-bundle"  # the sessions view is asked for by name
    assert ds.name == "amazon-bundle-food-sessions"
    seqs = dict(zip(ds.user_ids, ds.sequences(), strict=True))
    ids = list(ds.item_ids)
    assert [ids[i] for i in seqs["session-5"]] == ["9", "7"]  # file order, repeat once
    assert [ids[i] for i in seqs["session-6"]] == ["7", "9"]  # untitled item 99 dropped
    assert [ids[i] for i in seqs["session-8"]] == ["7"]
    assert ds.dropped.counts == {"session item not in item_titles.csv (no text)": 1,
                                 "item repeated within a session": 1}


def test_bundle_parent_folder_says_pick_a_domain(tmp_path: Path) -> None:
    write_bundle(tmp_path / "bundle" / "food")
    write_bundle(tmp_path / "bundle" / "clothing")
    with pytest.raises(DataError, match=r"subfolders \['clothing', 'food'\]: pass one"):
        load_dataset(tmp_path / "bundle")


def test_bundle_unknown_item_and_bad_categories(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "f")
    (folder / "item_titles.csv").write_text("item ID,titles\n7,x\n9,y,z\n")
    with pytest.raises(DataError, match=r"item_titles\.csv, line 3: wrong number of fields: "
                       "expected 2, found 3"):
        load_amazon_bundle(folder)
    (folder / "item_titles.csv").write_text("item ID,titles\n7,x\n9,y\n")
    (folder / "user_item.csv").write_text("user ID,item ID,timestamp\n0,7,1\n0,8,2\n")
    with pytest.raises(DataError, match=r"user_item\.csv, line 3: field 'item_id'"):
        load_amazon_bundle(folder)
    with pytest.raises(DataError, match=r"c\.csv, line 4: field 'categories'"):
        parse_categories("Grocery", "c.csv", 4)


def test_parse_categories_quoted_and_unquoted() -> None:
    assert parse_categories("[['A', 'B, C']]") == [["A", "B, C"]]
    assert parse_categories("[[A,B, C,D],[E]]") == [["A", "B, C", "D"], ["E"]]
    assert parse_categories("[]") == []
