"""Amazon review data (McAuley et al.), the official JSON-lines files of 2014 and 2018.

Reviews (both years): one JSON object per line with reviewerID, asin, overall,
unixReviewTime. Metadata: 2014 lines are Python dict literals (single quotes) with
`categories` as a list of category paths and a float `price`; 2018 lines are JSON with
`category` as one path, `description` as a list of paragraphs and `price` as text such as
"$12.99". Files may be gzipped. Public copies review products that have no metadata line,
so those become title-less catalog rows, counted in the source counts.
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.loaders import common, reading
from shelflm.data.schema import CATEGORY_SEPARATOR, Dataset

REVIEW_FIELDS = ("reviewerID", "asin", "overall", "unixReviewTime")
# A price must start the text: some 2018 "price" fields hold page CSS full of numbers.
_PRICE = re.compile(r"\s*\$?\s*(\d[\d,]*(?:\.\d+)?)")
_JSON_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
MAX_LITERAL_CHARS = 256 * 1024
"""Longest line read as a Python literal (2014 metadata; real lines are a few KB):
`ast.literal_eval` takes ~500 bytes per token, so this bounds one line to ~130 MB."""


def _is_json_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_JSON_SUFFIXES)


def is_amazon_reviews(path: Path) -> bool:
    """A reviews JSON-lines file, or a folder holding one (plus optional meta_*.json)."""
    if path.is_dir():  # only the folder's own files: detection must not walk a whole tree
        return any(_is_json_file(p) and "reviewerID" in reading.first_line(p)
                   for p in path.iterdir() if not p.name.startswith("meta"))
    return _is_json_file(path) and "reviewerID" in reading.first_line(path)


def _parse_line(text: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except RecursionError as exc:  # thousands of nested brackets: no record is that deep
        raise DataError(path, "malformed JSON line (nested too deeply)", line=number) from exc
    except json.JSONDecodeError as exc:
        record = _python_literal(text, path, number, exc)
    if not isinstance(record, dict):
        raise DataError(path, f"expected a JSON object, got {type(record).__name__}", line=number)
    return record


def _python_literal(text: str, path: Path, number: int, error: json.JSONDecodeError) -> Any:
    """A 2014 metadata line: a Python dict literal, not JSON (parsed within bounds)."""
    why = f"malformed JSON line ({error.msg} at column {error.colno})"
    if not text.lstrip().startswith("{"):
        raise DataError(path, why, line=number) from error
    if len(text) > MAX_LITERAL_CHARS:
        raise DataError(path, f"{why}; {len(text):,} characters is too long to read as a Python "
                        f"literal (MAX_LITERAL_CHARS = {MAX_LITERAL_CHARS:,})", line=number
                        ) from error
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise DataError(path, f"{why}, nor a Python literal ({exc.__class__.__name__})",
                        line=number) from exc


def read_reviews(path: Path) -> pd.DataFrame:
    """Review lines as a frame of user_id, item_id, value, timestamp and line."""
    rows: list[tuple[int, Any, Any, Any, Any]] = []
    for number, text in reading.iter_lines(path):
        record = _parse_line(text, path, number)
        for name in REVIEW_FIELDS:
            if name not in record:
                raise DataError(path, "missing required field", line=number, field=name)
        rows.append((number, *(record[name] for name in REVIEW_FIELDS)))
    frame = pd.DataFrame(rows, columns=["line", "user_id", "item_id", "overall", "time"])
    for column in ("user_id", "item_id"):
        frame[column] = frame[column].astype(str)
    frame["value"] = common.to_number(frame.astype({"overall": str}), "overall", path)
    frame["timestamp"] = common.to_unix_seconds(frame, "time", path)
    return frame.drop(columns=["overall", "time"])


def _price(value: Any) -> float:
    """2014 prices are numbers; 2018 ones text like "$12.99" or "$5.99 - $9.99" (lowest kept)."""
    if isinstance(value, int | float):
        return float(value)
    found = _PRICE.match(str(value or ""))
    return float(found.group(1).replace(",", "")) if found else np.nan


def _category(record: dict[str, Any]) -> str:
    if isinstance(record.get("category"), list):  # 2018: one path
        path = record["category"]
    elif record.get("categories"):  # 2014: a list of paths; the first is the main one
        path = record["categories"][0]
    else:
        path = []
    return CATEGORY_SEPARATOR.join(html.unescape(str(p)) for p in path if str(p).strip())


def _text(value: Any) -> str:
    if isinstance(value, list):  # 2018 descriptions are lists of paragraphs
        value = " ".join(str(v) for v in value)
    return html.unescape(str(value)).strip() if value else ""


def read_metadata(path: Path, counts: dict[str, int]) -> pd.DataFrame:
    """Metadata lines as catalog rows (one per asin; repeats are skipped, counted in `counts`)."""
    rows = []
    for number, text in reading.iter_lines(path):
        record = _parse_line(text, path, number)
        if "asin" not in record:
            raise DataError(path, "missing required field", line=number, field="asin")
        extra = {k: record[k] for k in ("salesRank", "rank", "main_cat") if record.get(k)}
        rows.append({
            "line": number, "item_id": str(record["asin"]),
            "title": _text(record.get("title")), "brand": _text(record.get("brand")),
            "category": _category(record), "price": _price(record.get("price")),
            "description": _text(record.get("description")),
            "attributes": json.dumps(extra, ensure_ascii=False) if extra else "",
        })
    items = pd.DataFrame(rows, columns=["line", "item_id", "title", "brand", "category", "price",
                                        "description", "attributes"])
    # The 2018 metadata repeats some products verbatim; the first line wins.
    dup = items["item_id"].duplicated().to_numpy()
    if dup.any():
        counts["repeated metadata lines (first kept)"] = int(dup.sum())
    return items[~dup]


def _split_folder(folder: Path) -> tuple[Path, Path | None]:
    files = sorted(p for p in folder.iterdir() if _is_json_file(p))
    metas = [p for p in files if p.name.startswith("meta")]
    for path in files:  # a reviews file in UTF-16 would otherwise just go unrecognised
        reading.check_text(path, reading.head(path))
    reviews = [p for p in files if p not in metas and "reviewerID" in reading.first_line(p)]
    if len(reviews) != 1 or len(metas) > 1:
        others = [p.name for p in files if p not in metas and p not in reviews]
        unread = f" (no 'reviewerID' on the first line of {others})" if others else ""
        raise DataError(folder, f"expected one reviews file and at most one meta_*.json file, "
                        f"found reviews {[p.name for p in reviews]}{unread} and meta "
                        f"{[p.name for p in metas]}")
    return reviews[0], metas[0] if metas else None


def load_amazon_reviews(
    path: str | Path, meta: str | Path | None = None, *,
    rating_range: tuple[float, float] = (1.0, 5.0),
) -> Dataset:
    """Reviews as "rating" events (value = stars), products from the metadata file if given."""
    path = Path(path)
    reviews_path, meta_path = _split_folder(path) if path.is_dir() else (path, meta)
    meta_path = Path(meta_path) if meta_path is not None else None
    events = read_reviews(reviews_path)
    common.check_range(events, events["value"].to_numpy(), "overall", reviews_path, *rating_range)
    events["event"] = "rating"
    source = common.count_source(events)
    dropped = DropReport()
    items = read_metadata(meta_path, source.extra) if meta_path is not None else pd.DataFrame(
        {"item_id": pd.Series(dtype=str), "title": pd.Series(dtype=str)})
    items = common.check_known_items(events, items, reviews_path, create_missing=True,
                                     extra=source.extra)
    events = common.drop_duplicates(events, ["user_id", "item_id", "timestamp", "value"],
                                    dropped, "exact duplicate review")
    name = reviews_path.name.split(".")[0].removeprefix("reviews_")
    return common.build_dataset(name, items, events, reviews_path, dropped=dropped,
                                source=source, items_file=meta_path)
