"""RecBole atomic files: `<name>.inter` and optional `<name>.item`, tab-separated with
`name:type` headers (types token, token_seq, float, float_seq).

Interactions need `user_id` and `item_id`; `rating` makes them "rating" events (else
"purchase"), and `timestamp` is unix seconds (without it, file order is the only clock).
Item columns map onto the catalog by name (title, brand, price, categories/class/genre);
everything else goes into the item's attributes.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.loaders import common
from shelflm.data.schema import CATEGORY_SEPARATOR, Dataset

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
CATEGORY_FIELDS = ("categories", "category", "class", "genre")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def is_recbole(path: Path) -> bool:
    """An `.inter` file, or a folder holding exactly one."""
    if path.is_dir():
        return len(list(path.glob("*.inter"))) == 1
    return path.suffix == ".inter"


def read_atomic(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """An atomic file as strings, its columns renamed to bare names; also name -> type."""
    frame = common.read_table(path, sep="\t", quoting=csv.QUOTE_NONE)
    types: dict[str, str] = {}
    for column in frame.columns:
        if column == "line":
            continue
        name, _, kind = column.partition(":")
        if kind not in FIELD_TYPES:
            raise DataError(path, f"header {column!r} is not name:type with type one of "
                            f"{FIELD_TYPES}", line=1, field=name)
        types[name] = kind
    frame.columns = ["line", *types]
    return frame, types


def _category(value: str) -> str:
    # RecBole's Amazon files quote each level ('Beauty', 'Skin Care'); others are plain tokens.
    quoted = [a or b for a, b in _QUOTED.findall(value)]
    return CATEGORY_SEPARATOR.join(quoted) if quoted else value.strip()


def load_recbole(path: str | Path, *, rating_range: tuple[float, float] | None = None,
                 create_missing_items: bool = False) -> Dataset:
    """Events from the `.inter` file, catalog from the `.item` file next to it (if any)."""
    path = Path(path)
    inter_path = next(path.glob("*.inter")) if path.is_dir() else path
    inter, _ = read_atomic(inter_path)
    common.require_columns(inter, ["user_id", "item_id"], inter_path)
    events = inter[["line", "user_id", "item_id"]].copy()
    has_time = "timestamp" in inter.columns
    events["timestamp"] = (common.to_unix_seconds(inter, "timestamp", inter_path) if has_time
                           else np.arange(len(inter), dtype=np.int64))
    if "rating" in inter.columns:
        events["value"] = common.to_number(inter, "rating", inter_path)
        if rating_range is not None:
            common.check_range(inter, events["value"].to_numpy(), "rating", inter_path,
                               *rating_range)
        events["event"] = "rating"
    else:
        events["event"] = "purchase"
    source = common.count_source(events)

    item_path = inter_path.with_suffix(".item")
    items = _read_items(item_path) if item_path.is_file() else pd.DataFrame(
        {"item_id": pd.Series(dtype=str), "title": pd.Series(dtype=str)})
    items = common.check_known_items(
        events, items, inter_path, create_missing=create_missing_items or not item_path.is_file(),
        extra=source.extra)
    dropped = DropReport()
    events = common.drop_duplicates(events, [c for c in events.columns if c != "line"],
                                    dropped, "exact duplicate interaction")
    return common.build_dataset(inter_path.stem, items, events, inter_path, dropped=dropped,
                                has_time=has_time, source=source, items_file=item_path)


def _read_items(path: Path) -> pd.DataFrame:
    raw, types = read_atomic(path)
    common.require_columns(raw, ["item_id"], path)
    # Field names differ by dataset (title vs movie_title); match the catalog ones loosely.
    title = next((c for c in raw.columns if c in ("title", "movie_title", "name")), None)
    category = next((c for c in raw.columns if c in CATEGORY_FIELDS), None)
    items = pd.DataFrame({"line": raw["line"], "item_id": raw["item_id"],
                          "title": raw[title] if title else ""})
    if "brand" in raw.columns:
        items["brand"] = raw["brand"]
    if "price" in raw.columns:
        items["price"] = common.to_number(raw, "price", path, allow_empty=True)
    if category:
        items["category"] = [_category(v) for v in raw[category]]
    rest = [c for c in types if c not in ("item_id", title, category, "brand", "price")]
    items["attributes"] = [
        json.dumps({c: v for c, v in zip(rest, values, strict=True) if v != ""},
                   ensure_ascii=False) if rest else ""
        for values in raw[rest].itertuples(index=False, name=None)
    ]
    return items
