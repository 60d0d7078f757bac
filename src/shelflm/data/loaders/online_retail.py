"""UCI Online Retail (Chen et al. 2012) as a CSV:
`InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`.

Each invoice line is a "purchase" with value = quantity. Dropped on purpose, and counted:
cancellations (invoice number starting with "C", or a negative quantity), lines without a
customer, and exact repeats of a line. The catalog holds every stock code on any line,
cancelled ones included, which is how the dataset's publishers count products.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.loaders import common, reading
from shelflm.data.schema import Dataset

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country"]


def _csv_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    found = [p for p in sorted(path.glob("*.csv")) if _header(p).startswith("InvoiceNo")]
    return found[0] if len(found) == 1 else None


def _header(path: Path) -> str:
    return reading.first_line(path).strip()


def is_online_retail(path: Path) -> bool:
    """A CSV (or a folder with one) whose header starts with InvoiceNo,StockCode."""
    found = _csv_file(path) if path.exists() else None
    return found is not None and _header(found).replace(";", ",").startswith(
        "InvoiceNo,StockCode")


def load_online_retail(path: str | Path) -> Dataset:
    """Invoice lines as purchases; titles from Description and prices from UnitPrice."""
    path = Path(path)
    csv_path = _csv_file(path)
    if csv_path is None:
        raise DataError(path, "expected one Online Retail CSV (header InvoiceNo,StockCode,...)")
    # Copies saved from the UCI spreadsheet are often Windows-1252/latin-1, not UTF-8.
    lines = common.read_table(csv_path, sep=reading.sniff_separator(csv_path),
                              encoding=common.UTF8_OR_LATIN1, required=COLUMNS)
    for column in ("InvoiceNo", "StockCode", "CustomerID"):
        lines[column] = lines[column].str.strip()
    # Excel exports write customer ids as floats ("17850.0").
    lines["CustomerID"] = lines["CustomerID"].str.replace(r"\.0$", "", regex=True)
    quantity = common.to_number(lines, "Quantity", csv_path, integer=True)
    price = common.to_number(lines, "UnitPrice", csv_path)
    events = pd.DataFrame({
        "line": lines["line"], "user_id": lines["CustomerID"], "item_id": lines["StockCode"],
        "timestamp": common.to_unix_seconds(lines, "InvoiceDate", csv_path),
        "event": "purchase", "value": quantity,
    })
    empty_code = events["item_id"] == ""
    if empty_code.any():
        raise DataError(csv_path, "empty stock code", line=common.first_bad(events, empty_code),
                        field="StockCode")
    has_customer = (events["user_id"] != "").to_numpy()
    source = common.count_source(events[has_customer])
    source.rows, source.items = len(events), int(events["item_id"].nunique())

    items = _catalog(lines, price)
    dropped = DropReport()
    cancelled = (lines["InvoiceNo"].str.upper().str.startswith("C") | (quantity < 0)).to_numpy()
    dropped.add("cancellation (invoice C..., negative quantity)", int(cancelled.sum()))
    no_customer = ~cancelled & ~has_customer
    dropped.add("no CustomerID", int(no_customer.sum()))
    # Only lines equal in every column are repeats; the same product twice on one invoice
    # at another price is a real second line.
    repeated = lines.duplicated(subset=COLUMNS).to_numpy() & ~cancelled & ~no_customer
    dropped.add("exact duplicate invoice line", int(repeated.sum()))
    events = events[~cancelled & ~no_customer & ~repeated].reset_index(drop=True)
    source.extra["cancellations"] = int(cancelled.sum())
    return common.build_dataset(
        csv_path.parent.name if path.is_dir() else csv_path.stem, items,
        events, csv_path, dropped=dropped, source=source,
    )


def _catalog(lines: pd.DataFrame, price: np.ndarray) -> pd.DataFrame:
    """One row per stock code: its most common description and its median unit price."""
    frame = pd.DataFrame({
        "line": lines["line"], "item_id": lines["StockCode"],
        # The shared copy replaces spaces by underscores; titles read better with spaces.
        "title": lines["Description"].str.replace("_", " ").str.strip(),
        "price": price,
    })
    # Most common non-empty description per code (ties: first seen), without per-group Python.
    described = frame[frame["title"] != ""]
    counts = described.groupby(["item_id", "title"], sort=False).agg(
        n=("line", "size"), line=("line", "first")).reset_index()
    best = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("item_id")
    best = best.set_index("item_id")
    items = frame.drop_duplicates("item_id")[["line", "item_id"]].reset_index(drop=True)
    items["title"] = items["item_id"].map(best["title"]).fillna("")
    # Catalog errors point at the line the title came from (else the code's first line).
    items["line"] = items["item_id"].map(best["line"]).fillna(items["line"]).astype(np.int64)
    # Zero prices are adjustments and free samples, not the product's price.
    priced = frame[frame["price"] > 0]
    items["price"] = items["item_id"].map(priced.groupby("item_id")["price"].median())
    return items
