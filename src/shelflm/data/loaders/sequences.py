"""The SASRec-style sequence format: `sequences.txt` (`user item item ...` per line, in time order)
plus `items.csv` (`item_id,title`).

There is no clock: an event's timestamp is its position in the user's line, and the
dataset says `has_time=False`. Every item is a "purchase" (these sets are built from
reviews, read as implicit feedback).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.loaders import common, reading
from shelflm.data.schema import Dataset

SEQUENCES_FILE, ITEMS_FILE = "sequences.txt", "items.csv"


def is_sequences(path: Path) -> bool:
    """A folder with `sequences.txt` (and usually `items.csv`), or that file itself."""
    if path.is_dir():
        return (path / SEQUENCES_FILE).is_file()
    return path.name == SEQUENCES_FILE


def read_sequences(path: Path) -> pd.DataFrame:
    """One row per (user, item) with the item's position in the line as its timestamp."""
    users: list[str] = []
    lengths: list[int] = []
    items: list[str] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for number, text in reading.iter_lines(path):
        tokens = text.split()
        if len(tokens) < 2:
            raise DataError(path, "wrong number of fields: expected a user then at least one "
                            "item", line=number, field="item_id")
        if tokens[0] in seen:
            raise DataError(path, f"user {shown(tokens[0])} already has a line (line "
                            f"{seen[tokens[0]]})", line=number, field="user_id")
        seen[tokens[0]] = number
        users.append(tokens[0])
        lengths.append(len(tokens) - 1)
        items.extend(tokens[1:])
        lines.append(number)
    counts = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return pd.DataFrame({
        "line": np.repeat(np.asarray(lines, dtype=np.int64), counts),
        "user_id": np.repeat(np.asarray(users, dtype=object), counts),
        "item_id": np.asarray(items, dtype=object),
        "timestamp": np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts),
    })


def load_sequences(path: str | Path, items: str | Path | None = None) -> Dataset:
    """Sequences as "purchase" events with ordinal timestamps; titles from `items.csv`."""
    path = Path(path)
    seq_path = path / SEQUENCES_FILE if path.is_dir() else path
    items_path = Path(items) if items is not None else seq_path.parent / ITEMS_FILE
    events = read_sequences(seq_path)
    events["event"] = "purchase"
    source = common.count_source(events)
    if items_path.is_file():
        catalog = common.read_table(items_path, sep=reading.sniff_separator(items_path),
                                    required=["item_id"])
        if "title" not in catalog.columns:
            catalog["title"] = ""
        items_frame = catalog.assign(item_id=catalog["item_id"].str.strip())
        items_frame = common.check_known_items(events, items_frame, seq_path,
                                               create_missing=False)
    else:
        # Without items.csv the ids are all there is; titles stay empty and we say so.
        items_frame = pd.DataFrame({"item_id": pd.unique(events["item_id"]), "title": ""})
        source.extra["items without metadata (title-less catalog rows created)"] = len(
            items_frame)
    name = seq_path.parent.name if seq_path.parent.name else "sequences"
    return common.build_dataset(name, items_frame, events, seq_path, dropped=DropReport(),
                                has_time=False, source=source, items_file=items_path)
