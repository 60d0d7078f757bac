"""Generic CSV/Parquet tables with a column mapping, the project format, and format detection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import (
    ColumnMapping,
    TableSourceConfig,
    detect_format,
    load_catalog,
    load_dataset,
    load_table,
)
from shelflm.data.project_format import read_project_dataset, write_project_dataset
from shelflm.data.schema import Dataset
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

SHOP_CSV = (
    "customer,sku,ts,kind,qty,name\n"
    "c1,s1,2024-03-01T10:00:00Z,view,1,Red Mug\n"
    "c1,s2,2024-03-01T10:05:00Z,purchase,2,Tea Pot\n"
    "c2,s1,2024-03-02,add_to_cart,1,Red Mug\n"
    "c2,s1,2024-03-02,add_to_cart,1,Red Mug\n"
)
MAPPING = {"user_id": "customer", "item_id": "sku", "timestamp": "ts", "event": "kind",
           "value": "qty", "title": "name"}


def test_csv_with_mapping_and_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(SHOP_CSV)
    assert detect_format(path) == "table"
    ds = load_dataset(path, mapping=MAPPING)
    assert (ds.num_users, ds.num_items, len(ds.interactions)) == (2, 2, 3)
    assert ds.dropped.counts == {"exact duplicate event": 1}
    ev = ds.interactions.events
    assert ev["event"].tolist() == ["view", "purchase", "add_to_cart"]
    assert ev["timestamp"].tolist() == [1709287200, 1709287500, 1709337600]
    assert ev["value"].tolist() == [1.0, 2.0, 1.0]
    assert ds.catalog.items.set_index("item_id").loc["s2", "title"] == "Tea Pot"


def test_parquet_with_int_timestamps_and_separate_catalog(tmp_path: Path) -> None:
    pd.DataFrame({"u": ["a", "b"], "i": ["x", "y"], "t": [1700000000, 1700000100]}).to_parquet(
        tmp_path / "events.parquet")
    pd.DataFrame({"i": ["x", "y", "z"], "label": ["X", "Y", "Z"], "cost": [1.5, None, 3.0]}
                 ).to_parquet(tmp_path / "items.parquet")
    config = TableSourceConfig(
        columns=ColumnMapping(user_id="u", item_id="i", timestamp="t", title="label",
                              price="cost"),
        items_path=tmp_path / "items.parquet")
    ds = load_table(tmp_path / "events.parquet", config)
    assert ds.num_items == 3
    assert ds.interactions.events["timestamp"].tolist() == [1700000000, 1700000100]
    items = ds.catalog.items.set_index("item_id")
    assert items.loc["z", "title"] == "Z" and items.loc["x", "price"] == 1.5
    assert set(ds.interactions.events["event"]) == {"purchase"}


def test_mapping_errors_name_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(SHOP_CSV)
    with pytest.raises(DataError, match=r"shop\.csv: field 'client': missing required column"):
        load_table(path, mapping={**MAPPING, "user_id": "client"})
    path.write_text(SHOP_CSV.replace("2024-03-02,add", "next tuesday,add", 1))
    with pytest.raises(DataError, match=r"shop\.csv, line 4: field 'ts': unparsable timestamp"):
        load_table(path, mapping=MAPPING)
    path.write_text(SHOP_CSV.replace(",view,", ",glance,"))
    with pytest.raises(DataError, match=r"line 2: field 'kind': unknown event type 'glance'"):
        load_table(path, mapping=MAPPING)


def test_rating_range_applies_to_rating_events(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user_id,item_id,timestamp,event,value\nu,i,1,rating,4\nu,j,2,rating,9\n")
    config = TableSourceConfig(columns=ColumnMapping(event="event", value="value"),
                               rating_range=(1, 5))
    with pytest.raises(DataError, match=r"line 3: field 'value': rating 9 out of range"):
        load_table(path, config)


def test_column_mapping_from_command_line_pairs() -> None:
    cols = ColumnMapping.from_pairs(["user_id=customer", "item_id = sku"])
    assert (cols.user_id, cols.item_id, cols.timestamp) == ("customer", "sku", "timestamp")
    with pytest.raises(ValueError, match="expected FIELD=COLUMN"):
        ColumnMapping.from_pairs(["user_id"])
    with pytest.raises(ValueError, match="unknown field 'shopper'"):
        ColumnMapping.from_pairs(["shopper=customer"])


def assert_same(a: Dataset, b: Dataset) -> None:
    pd.testing.assert_frame_equal(a.catalog.items, b.catalog.items)
    pd.testing.assert_frame_equal(a.interactions.events, b.interactions.events)
    assert (a.name, a.has_time, a.dropped.counts, a.source) == (
        b.name, b.has_time, b.dropped.counts, b.source)


def test_project_format_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(SHOP_CSV)
    ds = load_dataset(path, mapping=MAPPING)
    out = write_project_dataset(ds, tmp_path / "converted")
    assert detect_format(out) == "project"
    assert_same(ds, load_dataset(out))
    assert list(ds.user_ids) == list(read_project_dataset(out).user_ids)


def test_project_format_bad_meta(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(SHOP_CSV)
    out = write_project_dataset(load_dataset(path, mapping=MAPPING), tmp_path / "p")
    (out / "meta.json").write_text('{"name": "x",\n "has_time": tru}')
    with pytest.raises(DataError, match=r"meta\.json, line 2: not valid JSON"):
        read_project_dataset(out)
    (out / "meta.json").write_text('{"name": "x", "dropped": {}}')
    with pytest.raises(DataError, match=r"field 'has_time': missing required key"):
        read_project_dataset(out)


def test_detection_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="unrecognised file format"):
        load_dataset(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="unknown format 'excel'"):
        load_dataset(tmp_path / "notes.txt", format="excel")
    (tmp_path / "sequences.txt").write_text("u a b\n")
    with pytest.raises(ValueError, match=r"format 'sequences': .*'mapping'.*takes: \['items'\]"):
        load_dataset(tmp_path, mapping={"user_id": "u"})


def test_mapping_from_a_toml_config(tmp_path: Path) -> None:
    from shelflm.config import load_config

    (tmp_path / "shop.csv").write_text(SHOP_CSV)
    (tmp_path / "data.toml").write_text(
        'default_event = "view"\n[columns]\nuser_id = "customer"\nitem_id = "sku"\n'
        'timestamp = "ts"\n')
    config = load_config(TableSourceConfig, tmp_path / "data.toml", environ={})
    ds = load_table(tmp_path / "shop.csv", config)
    assert ds.num_users == 2 and set(ds.interactions.events["event"]) == {"view"}


def test_a_catalog_alone_from_a_table_or_a_dataset_folder(tmp_path: Path) -> None:
    table = tmp_path / "items.csv"
    table.write_text("item_id,title,brand,price\n a ,Red lipstick,acme,4.5\nb,Lip liner,,\n")
    catalog = load_catalog(table)
    assert list(catalog.ids) == ["a", "b"] and catalog.items.brand.tolist() == ["acme", ""]
    assert catalog.items.price.iloc[0] == 4.5 and pd.isna(catalog.items.price.iloc[1])
    no_title = tmp_path / "no_title.csv"
    no_title.write_text("item_id,name\na,x\n")
    with pytest.raises(DataError, match="no_title.csv.*title"):
        load_catalog(no_title)
    dup = tmp_path / "dup.csv"
    dup.write_text("item_id,title\na,x\na,y\n")
    with pytest.raises(DataError, match="line 3.*duplicate item id"):
        load_catalog(dup)
    with pytest.raises(DataError, match="no such file"):
        load_catalog(tmp_path / "gone.csv")
    shop = generate_shop(SyntheticShopConfig(num_users=10, num_items=12, target_events=80))
    folder = write_project_dataset(shop, tmp_path / "shop")
    assert list(load_catalog(folder).ids) == list(shop.catalog.ids)
