"""One small valid file set per loader format, for the property tests of test_loader_properties*.

A `Case` holds each file's canonical text (or bytes), where the loader must be pointed,
which file holds the source rows, and how to count those rows in that file's bytes so a
test can check that no row vanished without being counted.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from shelflm.data.errors import DataError
from shelflm.data.loaders import detect_format, load_dataset, load_table
from shelflm.data.loaders.movielens_100k import GENRES as ML100K_GENRES
from shelflm.data.project_format import write_project_dataset
from shelflm.data.schema import Dataset

_LINE_END = re.compile(rb"\r\n|\r|\n")
MAX_MESSAGE_CHARS = 1000  # an error message stays readable whatever the input held


def _unpacked(data: bytes) -> bytes | None:
    """The bytes a reader sees: gunzipped when gzipped; None when the gzip stream is broken."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


def _readable(data: bytes) -> bytes:
    """As much as a reader can gunzip before a broken stream stops it (for line bounds)."""
    if data[:2] != b"\x1f\x8b":
        return data
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = b""
    for start in range(0, len(data), 16):
        try:
            out += stream.decompress(data[start:start + 16])
        except zlib.error:
            break
    return out


def _lines(data: bytes, *, lone_cr: bool = True) -> list[bytes] | None:
    raw = _unpacked(data)
    if raw is None:
        return None
    parts = _LINE_END.split(raw) if lone_cr else raw.split(b"\n")
    return [p for p in parts if p.strip(b" \t\r,|")]


def table_rows(data: bytes) -> int | None:
    """Rows of a delimited file with a header line (blank lines are not rows)."""
    lines = _lines(data)
    return None if lines is None else max(len(lines) - 1, 0)


def headerless_rows(data: bytes) -> int | None:
    lines = _lines(data)
    return None if lines is None else len(lines)


def json_rows(data: bytes) -> int | None:
    lines = _lines(data, lone_cr=False)
    return None if lines is None else len(lines)


def sequence_rows(data: bytes) -> int | None:
    lines = _lines(data, lone_cr=False)
    return None if lines is None else sum(len(line.split()) - 1 for line in lines)


def parquet_rows(data: bytes) -> int | None:
    try:
        return pq.read_metadata(io.BytesIO(data)).num_rows
    except Exception:  # noqa: BLE001 - any unreadable Parquet counts as "no rows known"
        return None


@dataclass(frozen=True)
class Case:
    """A valid file set of one format, and what a test needs to know about it."""

    name: str
    fmt: str
    texts: dict[str, str]  # text files by name (written in `encodings[name]`, default UTF-8)
    events: str  # the file whose rows are the source rows
    count: Callable[[bytes], int | None]  # source rows in the events file's bytes
    kept_only: bool = False  # the events file holds the kept rows only (project format)
    target: str = ""  # where load_dataset is pointed ("" = the folder)
    encodings: dict[str, str] = field(default_factory=dict)
    gzipped: frozenset[str] = frozenset()
    binary: dict[str, bytes] = field(default_factory=dict)  # non-text files (Parquet)
    options: dict[str, Any] = field(default_factory=dict)
    catalog: dict[str, str] = field(default_factory=dict)  # catalog text file -> title to grow

    def raw(self, name: str) -> bytes:
        """The file's bytes as written in the format's own encoding."""
        if name in self.binary:
            return self.binary[name]
        data = self.texts[name].encode(self.encodings.get(name, "utf-8"))
        return gzip.compress(data, mtime=0) if name in self.gzipped else data

    @property
    def names(self) -> list[str]:
        return [*self.texts, *self.binary]

    def write(self, folder: Path, override: dict[str, bytes] | None = None) -> dict[str, bytes]:
        """Write every file (with `override` bytes in place of some) and return what was written."""
        folder.mkdir(parents=True, exist_ok=True)
        written = {name: self.raw(name) for name in self.names} | (override or {})
        for name, data in written.items():
            (folder / name).write_bytes(data)
        return written


def load(case: Case, folder: Path) -> Dataset:
    """Detect (must name a format or raise DataError), then load as the case's format."""
    target = folder / case.target
    with contextlib.suppress(DataError):
        detect_format(target)
    return load_dataset(target, format=case.fmt, **case.options)


def check_error(case: Case, folder: Path, written: dict[str, bytes], exc: DataError) -> None:
    """A DataError names one of the files (or the folder), a line inside it, and is short."""
    source = Path(exc.source)
    assert source.name in case.names or source == folder or source == folder / case.target, exc
    assert len(str(exc)) <= MAX_MESSAGE_CHARS, str(exc)[:300]
    assert str(exc).startswith(exc.source)
    if exc.line is not None and source.name in written and source.suffix != ".parquet":
        raw = _readable(written[source.name])
        assert 1 <= exc.line <= raw.count(b"\n") + raw.count(b"\r") + 1, exc


def check_accounting(case: Case, ds: Dataset, written: dict[str, bytes], *, exact: bool) -> None:
    """Kept rows + rows dropped on purpose == the source rows (== the rows in the file)."""
    assert ds.source is not None
    assert len(ds.interactions) + ds.dropped.total == ds.source.rows
    if exact:
        rows = case.count(written[case.events])
        assert (len(ds.interactions) if case.kept_only else ds.source.rows) == rows


def outcome(case: Case, folder: Path, override: dict[str, bytes], *, exact: bool = False
            ) -> Dataset | DataError:
    """Load with `override` files: a DataError or a Dataset, both checked; nothing else."""
    written = case.write(folder, override)
    try:
        ds = load(case, folder)
    except DataError as exc:
        check_error(case, folder, written, exc)
        return exc
    check_accounting(case, ds, written, exact=exact)
    return ds


FLAGS = "|".join("1" if i == 5 else "0" for i in range(19))
GENRES = "".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES))
REVIEWS = "".join(
    f'{{"reviewerID": "{u}", "asin": "{i}", "overall": {r}, "unixReviewTime": {t}}}\n'
    for u, i, r, t in (("A1", "B1", 5.0, 1356998400), ("A1", "B2", 3.0, 1357084800),
                       ("A2", "B1", 4.0, 1357171200), ("A2", "B1", 4.0, 1357171200)))
META = ('{"asin": "B1", "title": "Crème Brûlée Lip Balm", "price": "$4.50", '
        '"category": ["Beauty", "Lips"], "description": ["Soft.", "Smooth."]}\n'
        '{"asin": "B2", "title": "Mint Shampoo", "brand": "Bloom"}\n')
SHOP = ("customer,sku,ts,kind,qty,name\nc1,s1,2024-03-01T10:00:00Z,view,1,Café Mug\n"
        "c1,s2,2024-03-01T10:05:00Z,purchase,2,\"Tea Pot, Large\"\n"
        "c2,s1,2024-03-02,add_to_cart,1,Café Mug\nc2,s1,2024-03-02,add_to_cart,1,Café Mug\n")
SHOP_MAP = {"mapping": {"user_id": "customer", "item_id": "sku", "timestamp": "ts",
                        "event": "kind", "value": "qty", "title": "name"}}
RETAIL = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
          "536365,85123A,CAFÉ_HEART_HOLDER,6,2010-12-01 08:26:00,2.55,17850,United_Kingdom\n"
          "536365,71053,WHITE_METAL_LANTERN,6,2010-12-01 08:26:00,3.39,17850,United_Kingdom\n"
          "536365,71053,WHITE_METAL_LANTERN,6,2010-12-01 08:26:00,3.39,17850,United_Kingdom\n"
          "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United_Kingdom\n"
          "536380,71053,WHITE_METAL_LANTERN,2,2010-12-02 10:00:00,3.39,,France\n")


@cache
def _project_files() -> dict[str, bytes]:
    """A project folder (from SHOP), and SHOP itself as a Parquet table."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "shop.csv").write_text(SHOP)
        out = write_project_dataset(load_table(Path(tmp) / "shop.csv", **SHOP_MAP),
                                    Path(tmp) / "project")
        pd.read_csv(Path(tmp) / "shop.csv", dtype=str).to_parquet(out / "shop.parquet")
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def cases() -> list[Case]:
    """Every format, with a compressed variant where the format reads gzip."""
    project = _project_files()
    return [
        Case("project", "project", {"meta.json": project["meta.json"].decode()},
             "interactions.parquet", parquet_rows, kept_only=True,
             binary={k: project[k] for k in ("items.parquet", "interactions.parquet")}),
        Case("movielens-100k", "movielens-100k", {
            "u.data": "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t2\t4\t881250951\n"
                      "2\t2\t4\t881250951\n",
            "u.item": f"1|Amélie (2001)|01-Jan-2001||http://x|{FLAGS}\n"
                      f"2|Heat (1995)|01-Jan-1995||http://y|{FLAGS}\n",
            "u.genre": GENRES}, "u.data", headerless_rows,
            encodings={"u.item": "latin-1", "u.genre": "latin-1"},
            catalog={"u.item": "Amélie (2001)"}),
        Case("movielens-csv", "movielens", {
            "ratings.csv": "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
                           "1,2,3.5,964982704\n2,1,5.0,964982705\n2,1,5.0,964982705\n",
            "movies.csv": 'movieId,title,genres\n1,Amélie (2001),Comedy|Romance\n'
                          '2,"Heat, The (1995)",Action\n',
            "tags.csv": "userId,movieId,tag,timestamp\n1,1,café,1445714994\n"},
            "ratings.csv", table_rows, catalog={"movies.csv": "Amélie (2001)"}),
        Case("movielens-1m", "movielens", {
            "ratings.dat": "1::1::5::978300760\n1::2::3::978300761\n2::1::4::978300762\n",
            "movies.dat": "1::Amélie (2001)::Comedy|Romance\n2::Heat (1995)::Action\n"},
            "ratings.dat", headerless_rows,
            encodings={"ratings.dat": "latin-1", "movies.dat": "latin-1"},
            catalog={"movies.dat": "Amélie (2001)"}),
        Case("sequences", "sequences", {
            "sequences.txt": "U1 B1 B2 B3\nU2 B2 B1\n",
            "items.csv": 'item_id,title\nB1,Crème Brûlée Balm\nB2,"Shampoo, Mint"\nB3,\n'},
            "sequences.txt", sequence_rows, catalog={"items.csv": "Crème Brûlée Balm"}),
        Case("amazon-bundle", "amazon-bundle", {
            "user_item.csv": "user ID,item ID,timestamp\n0,7,1392249600\n0,9,1392249600\n"
                             "0,9,1392249600\n1,7,1401408000\n",
            "item_titles.csv": 'item ID,titles\n7,"Hummus Chips, Crème"\n9,"Red &amp; Tea"\n',
            "item_categories.csv": 'item ID,categories\n7,"[[Grocery,Snack Foods]]"\n'
                                   '9,"[[Grocery,Beverages,Coffee, Tea & Cocoa],[Gifts]]"\n'},
            "user_item.csv", table_rows, catalog={"item_titles.csv": "Hummus Chips, Crème"}),
        Case("amazon-reviews", "amazon-reviews",
             {"reviews_Beauty.json": REVIEWS, "meta_Beauty.json": META},
             "reviews_Beauty.json", json_rows,
             catalog={"meta_Beauty.json": "Crème Brûlée Lip Balm"}),
        Case("amazon-reviews-gz", "amazon-reviews",
             {"reviews_Beauty.json.gz": REVIEWS, "meta_Beauty.json.gz": META},
             "reviews_Beauty.json.gz", json_rows,
             gzipped=frozenset({"reviews_Beauty.json.gz", "meta_Beauty.json.gz"})),
        Case("recbole", "recbole", {
            "shop.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                          "u1\ti1\t3\t881250949\nu2\ti2\t3\t891717742\nu1\ti2\t5\t881250950\n"
                          "u1\ti2\t5\t881250950\n",
            "shop.item": "item_id:token\ttitle:token_seq\tcategories:token_seq\tprice:float\n"
                         "i1\tCrème Balm\t'Beauty', 'Lips'\t4.5\ni2\tShampoo\t'Beauty'\t\n"},
            "shop.inter", table_rows, catalog={"shop.item": "Crème Balm"}),
        Case("online-retail", "online-retail", {"retail.csv": RETAIL}, "retail.csv", table_rows,
             target="retail.csv", catalog={"retail.csv": "CAFÉ_HEART_HOLDER"}),
        Case("table", "table", {"shop.csv": SHOP}, "shop.csv", table_rows, target="shop.csv",
             options=SHOP_MAP, catalog={"shop.csv": "Café Mug"}),
        Case("table-parquet", "table", {}, "shop.parquet", parquet_rows, target="shop.parquet",
             options=SHOP_MAP, binary={"shop.parquet": project["shop.parquet"]}),
        Case("table-gz", "table", {"shop.csv.gz": SHOP}, "shop.csv.gz", table_rows,
             target="shop.csv.gz", options=SHOP_MAP, gzipped=frozenset({"shop.csv.gz"})),
    ]


CASES = cases()
FILES = [(case, name) for case in CASES for name in case.names]
TEXT_FILES = [(case, name) for case in CASES for name in case.texts if name not in case.gzipped]
