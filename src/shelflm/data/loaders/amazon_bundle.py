"""Amazon bundles with shopping intents (Sun et al., SIGIR 2022), one domain folder:
user_item.csv, item_titles.csv, item_categories.csv, bundle_intent.csv, bundle_item.csv,
session_item.csv, user_session.csv.

The published README calls the files tab-separated; the released copies are
comma-separated with quoted fields, so the separator is read from each header. Categories
are a list of category paths such as `[[Clothing, Shoes & Jewelry,Women,Dresses]]`,
whose names are not quoted and may contain ", " themselves.
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.loaders import common, reading
from shelflm.data.schema import CATEGORY_SEPARATOR, Dataset

REQUIRED_FILES = ("user_item.csv", "item_titles.csv")
_LEVEL_SPLIT = re.compile(r",(?! )")  # a level ends at a comma not followed by a space


def is_amazon_bundle(path: Path) -> bool:
    """A domain folder holding user_item.csv and item_titles.csv."""
    return path.is_dir() and all((path / name).is_file() for name in REQUIRED_FILES)


def _read(folder: Path, name: str, required: list[str]) -> tuple[pd.DataFrame, Path]:
    path = folder / name
    if not path.is_file():
        raise DataError(path, "file not found")
    return common.read_table(path, sep=reading.sniff_separator(path), required=required), path


def parse_categories(text: str, path: Path | str = "categories", line: int | None = None
                     ) -> list[list[str]]:
    """Category paths from `[[A,B,C],[A,D]]` (unquoted) or a Python literal list of lists."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise DataError(path, f"categories {text[:40]!r} is not a list", line=line,
                        field="categories")
    if "'" in text or '"' in text:
        try:
            value = ast.literal_eval(text)
            if isinstance(value, list):
                return [[str(level) for level in p] if isinstance(p, list) else [str(p)]
                        for p in value]
        except (ValueError, SyntaxError):
            pass  # quotes inside unquoted names (e.g. Levi's); fall through
    inner = text[1:-1].strip()
    if not inner:
        return []
    paths = inner[1:-1].split("],[") if inner.startswith("[") else [inner]
    return [[level.strip() for level in _LEVEL_SPLIT.split(p) if level.strip()] for p in paths]


def load_amazon_bundle(path: str | Path) -> Dataset:
    """User-item purchases, item titles and category paths of one domain folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(folder, "expected a folder with user_item.csv and item_titles.csv")
    events_raw, events_path = _read(folder, "user_item.csv", ["user ID", "item ID", "timestamp"])
    events = pd.DataFrame({
        "line": events_raw["line"], "user_id": events_raw["user ID"].str.strip(),
        "item_id": events_raw["item ID"].str.strip(),
        "timestamp": common.to_unix_seconds(events_raw, "timestamp", events_path),
        "event": "purchase",
    })
    source = common.count_source(events)
    items, titles_path = _items(folder)
    items = common.check_known_items(events, items, events_path, create_missing=False)
    dropped = DropReport()
    # Timestamps are day-level, so a repeat of (user, item, day) adds nothing a model can use.
    events = common.drop_duplicates(events, ["user_id", "item_id", "timestamp"], dropped,
                                    "exact duplicate user-item-day row")
    name = f"amazon-bundle-{folder.name}" if folder.name else "amazon-bundle"
    return common.build_dataset(name, items, events, events_path, dropped=dropped,
                                source=source, items_file=titles_path)


def is_amazon_bundle_sessions(path: Path) -> bool:
    """Never detected: the sessions view of a bundle folder is asked for by name."""
    return False


def load_amazon_bundle_sessions(path: str | Path) -> Dataset:
    """One domain folder's sessions as sequences, the view sequential evaluation uses
    (../shared/data's README): every session is one shopper (user_id "session-<id>"), its
    items in file order. A session's timestamp comes from user_session.csv (day-level; 0
    for the few sessions it lacks);
    its n-th item is stamped n seconds after it, so the order within a session is strict
    and leave-one-out keeps it. An item repeated within a session counts once. About a
    quarter of the released session rows name items that item_titles.csv lacks (it covers
    user_item.csv's items only); with no text and no other record they are dropped, and the
    dataset's drop report counts them."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(folder, "expected a folder with session_item.csv, user_session.csv "
                        "and item_titles.csv")
    rows, rows_path = _read(folder, "session_item.csv", ["session ID", "item ID"])
    when, when_path = _read(folder, "user_session.csv", ["session ID", "timestamp"])
    day = dict(zip(when["session ID"].str.strip(),
                   common.to_unix_seconds(when, "timestamp", when_path), strict=True))
    session = rows["session ID"].str.strip()
    events = pd.DataFrame({"line": rows["line"], "user_id": "session-" + session,
                           "item_id": rows["item ID"].str.strip(), "event": "purchase"})
    start = session.map(day).fillna(0).astype("int64").to_numpy()  # a few have no time
    events["timestamp"] = start + events.groupby("user_id").cumcount().to_numpy()
    source = common.count_source(events)
    items, titles_path = _items(folder)
    dropped = DropReport()
    untitled = ~events["item_id"].isin(items["item_id"])
    dropped.add("session item not in item_titles.csv (no text)", int(untitled.sum()))
    events = events[~untitled]
    events = common.drop_duplicates(events, ["user_id", "item_id"], dropped,
                                    "item repeated within a session")
    return common.build_dataset(f"amazon-bundle-{folder.name}-sessions", items, events,
                                rows_path, dropped=dropped, source=source,
                                items_file=titles_path)


def _items(folder: Path) -> tuple[pd.DataFrame, Path]:
    """The domain's catalog rows (titles, first category path, all paths as attributes)."""
    titles, titles_path = _read(folder, "item_titles.csv", ["item ID", "titles"])
    items = pd.DataFrame({"line": titles["line"], "item_id": titles["item ID"].str.strip(),
                          "title": [html.unescape(t).strip() for t in titles["titles"]]})
    if (folder / "item_categories.csv").is_file():
        cats, cats_path = _read(folder, "item_categories.csv", ["item ID", "categories"])
        paths = {item: parse_categories(text, cats_path, line) for item, text, line in zip(
            cats["item ID"].str.strip(), cats["categories"], cats["line"], strict=True)}
        items["category"] = [CATEGORY_SEPARATOR.join(paths.get(i, [[]])[0] if paths.get(i)
                                                     else []) for i in items["item_id"]]
        items["attributes"] = [json.dumps({"category_paths": paths[i]}) if len(
            paths.get(i, [])) > 1 else "" for i in items["item_id"]]
    return items, titles_path


def load_bundle_intents(path: str | Path) -> pd.DataFrame:
    """Each bundle's free-text intent with its item ids: columns bundle_id, intent, items."""
    folder = Path(path)
    intents, _ = _read(folder, "bundle_intent.csv", ["bundle ID", "intent"])
    members, _ = _read(folder, "bundle_item.csv", ["bundle ID", "item ID"])
    items = members.groupby(members["bundle ID"].str.strip(), sort=False)["item ID"].agg(
        lambda s: [v.strip() for v in s])
    out = pd.DataFrame({"bundle_id": intents["bundle ID"].str.strip(),
                        "intent": intents["intent"].str.strip()})
    out["items"] = [items.get(b, []) for b in out["bundle_id"]]
    return out
