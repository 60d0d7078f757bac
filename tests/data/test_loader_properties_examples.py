"""One example of each crash the property tests found, now a DataError naming file, line, field.

Each test was an uncaught exception (or a misleading message) before the loaders were
hardened; the comment on each says which.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from loader_cases import CASES, load

from shelflm.data.errors import DataError
from shelflm.data.loaders import load_dataset
from shelflm.data.loaders.amazon_reviews import MAX_LITERAL_CHARS

CASE = {case.name: case for case in CASES}


def write(name: str, folder: Path, **files: bytes) -> Path:
    CASE[name].write(folder, {k.replace("__", "."): v for k, v in files.items()})
    return folder


def test_cut_gzip_stream(tmp_path: Path) -> None:  # was EOFError
    raw = CASE["amazon-reviews-gz"].raw("reviews_Beauty.json.gz")
    write("amazon-reviews-gz", tmp_path, reviews_Beauty__json__gz=raw[:40])
    with pytest.raises(DataError, match=r"reviews_Beauty\.json\.gz: broken gzip data"):
        load_dataset(tmp_path / "reviews_Beauty.json.gz", format="amazon-reviews")
    with pytest.raises(DataError, match=r"found reviews \[\] \(no 'reviewerID' on the first "
                       r"line of \['reviews_Beauty\.json\.gz'\]\)"):
        load_dataset(tmp_path, format="amazon-reviews")


def test_gzip_magic_in_a_plain_csv(tmp_path: Path) -> None:  # was EOFError from sniffing
    (tmp_path / "shop.csv").write_bytes(b"\x1f\x8b\x08")
    with pytest.raises(DataError, match=r"shop\.csv: unreadable \(broken compressed data"):
        load_dataset(tmp_path / "shop.csv", format="table")


def test_utf16_csv_says_so(tmp_path: Path) -> None:  # was a missing-column error on garbage
    text = CASE["online-retail"].texts["retail.csv"]
    write("online-retail", tmp_path, retail__csv=text.encode("utf-16"))
    with pytest.raises(DataError, match=r"retail\.csv: not UTF-8 text \(a UTF-16 byte-order"):
        load(CASE["online-retail"], tmp_path)


def test_latin1_in_json_lines_names_the_line(tmp_path: Path) -> None:  # UnicodeDecodeError
    meta = CASE["amazon-reviews"].texts["meta_Beauty.json"].encode("latin-1")
    write("amazon-reviews", tmp_path, meta_Beauty__json=meta)
    with pytest.raises(DataError, match=r"meta_Beauty\.json, line 1: not UTF-8 text: byte 0xe8"):
        load(CASE["amazon-reviews"], tmp_path)


def test_bom_before_json_lines_loads(tmp_path: Path) -> None:  # was "malformed JSON line"
    reviews = b"\xef\xbb\xbf" + CASE["amazon-reviews"].raw("reviews_Beauty.json")
    write("amazon-reviews", tmp_path, reviews_Beauty__json=reviews)
    assert len(load(CASE["amazon-reviews"], tmp_path).interactions) == 3


@pytest.mark.parametrize(("line", "message"), [
    ("[" * 100_000, "nested too deeply"),  # was RecursionError
    ("{[1]: 2}", r"nor a Python literal \(TypeError\)"),  # was TypeError (unhashable key)
    ("{'asin': '" + "x" * MAX_LITERAL_CHARS + "',}", "MAX_LITERAL_CHARS"),  # was ~0.5 GB/MB
])
def test_bad_metadata_lines(tmp_path: Path, line: str, message: str) -> None:
    meta = CASE["amazon-reviews"].raw("meta_Beauty.json") + line.encode() + b"\n"
    write("amazon-reviews", tmp_path, meta_Beauty__json=meta)
    with pytest.raises(DataError, match=rf"meta_Beauty\.json, line 3: malformed JSON.*{message}"):
        load(CASE["amazon-reviews"], tmp_path)


@pytest.mark.parametrize(("meta", "message"), [
    (b"\x80", r"meta\.json: not UTF-8 text"),  # was UnicodeDecodeError
    (b"[]", r"meta\.json: expected a JSON object, got list"),  # was TypeError
    (b'{"name": "x", "has_time": true, "dropped": {"dup": "2"}}',
     r"field 'dropped\.dup': count '2' is not a non-negative integer"),  # was ValueError
    (b'{"name": "x", "has_time": true, "dropped": {}, "format_version": "1"}',
     r"field 'format_version': expected an integer"),  # was TypeError
])
def test_bad_project_meta(tmp_path: Path, meta: bytes, message: str) -> None:
    write("project", tmp_path, meta__json=meta)
    with pytest.raises(DataError, match=message):
        load(CASE["project"], tmp_path)


def test_project_rows_must_add_up(tmp_path: Path) -> None:  # was loaded as complete
    meta = json.loads(CASE["project"].texts["meta.json"])
    meta["source"]["rows"] += 5
    write("project", tmp_path, meta__json=json.dumps(meta).encode())
    with pytest.raises(DataError, match=r"meta\.json: field 'source': the source had 9 rows but "
                       r"interactions\.parquet holds 3 and 1 were dropped"):
        load(CASE["project"], tmp_path)


def test_genre_index_not_a_number(tmp_path: Path) -> None:  # was ValueError from int()
    write("movielens-100k", tmp_path, u__genre=b"unknown|0\nAction|one\n")
    with pytest.raises(DataError, match=r"u\.genre, line 2: field 'index': 'one' is not an int"):
        load(CASE["movielens-100k"], tmp_path)


def test_duplicate_item_names_the_catalog_file_and_line(tmp_path: Path) -> None:
    # was "u.data, line 2: duplicate item id" (the events file and the catalog row index)
    items = CASE["movielens-100k"].raw("u.item")
    write("movielens-100k", tmp_path, u__item=items + items.split(b"\n")[0] + b"\n")
    with pytest.raises(DataError, match=r"u\.item, line 3: field 'item_id': duplicate item"):
        load(CASE["movielens-100k"], tmp_path)


@pytest.mark.parametrize(("value", "message"), [
    ("1700000000000", r"line 2: field 'ts': timestamp '1700000000000' is past the year 9999"),
    ("inf", r"line 2: field 'ts': timestamp 'inf' is past the year 9999"),  # was int overflow
])
def test_timestamps_beyond_any_clock(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "e.csv").write_text(f"user_id,item_id,ts\nu1,i1,{value}\n")
    with pytest.raises(DataError, match=message):
        load_dataset(tmp_path / "e.csv", mapping={"timestamp": "ts"})


def test_infinite_quantity(tmp_path: Path) -> None:  # was loaded as an infinite value
    text = CASE["online-retail"].texts["retail.csv"].replace(",6,", ",inf,", 1)
    write("online-retail", tmp_path, retail__csv=text.encode())
    with pytest.raises(DataError, match=r"line 2: field 'Quantity': 'inf' is not an integer"):
        load(CASE["online-retail"], tmp_path)


def test_huge_bad_value_is_shortened_in_the_message(tmp_path: Path) -> None:
    write("sequences", tmp_path, sequences__txt=b"U1 B1 " + b"Z" * 5_000_000 + b"\n")
    with pytest.raises(DataError, match=r"interaction for item 'ZZZ+\.\.\.Z' that is not") as e:
        load(CASE["sequences"], tmp_path)
    assert len(str(e.value)) < 300


def test_gzip_files_load_by_magic_not_name(tmp_path: Path) -> None:
    # pandas went by the name: gzipped "shop.csv" was an undecodable text file
    (tmp_path / "shop.csv").write_bytes(gzip.compress(CASE["table"].raw("shop.csv")))
    assert len(load(CASE["table"], tmp_path).interactions) == 3
