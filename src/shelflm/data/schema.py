"""The data model: a Catalog of items, an Interactions table, and a Dataset tying them together.

Every loader produces a `Dataset`; every model, split and metric consumes one. Ids stay
strings in the tables; contiguous integer indices are assigned here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport, shown

EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "rating")
"""Event types, weakest signal first. Their position is the event-type index models use."""

ITEM_COLUMNS: dict[str, str] = {
    "item_id": "string",
    "title": "string",
    "brand": "string",
    "category": "string",  # path joined with " > ", e.g. "Beauty > Makeup > Eyes"
    "price": "float64",
    "description": "string",
    "attributes": "string",  # JSON object of free attributes, "" when none
}
CATEGORY_SEPARATOR = " > "
MAX_TEXT_CHARS = 1_000_000
"""Longest item text field (title, description, attributes, ...) a catalog accepts: real
ones are far shorter, and every field is rendered, tokenised and embedded downstream."""

INTERACTION_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "item_id": "string",
    "timestamp": "int64",  # unix seconds; an ordinal position when the source has no clock
    "event": "category",
    "value": "float32",  # rating for "rating" events, quantity for purchases, else 1.0
}


def _line(lines: np.ndarray | None, row: int) -> int | None:
    """The source line of frame row `row` (row + 1 when the frame has no `line` column)."""
    if lines is None:
        return row + 1
    value = lines[row]
    return None if pd.isna(value) else int(value)


def _check_text_sizes(items: pd.DataFrame, source: str, lines: np.ndarray | None) -> None:
    """Raise naming the first text field longer than MAX_TEXT_CHARS."""
    for col, dtype in ITEM_COLUMNS.items():
        values = items[col].to_numpy(dtype=object) if dtype == "string" else ()
        # max(map(len)) costs microseconds on the one-row frames of live catalog updates.
        if len(values) and max(map(len, values)) > MAX_TEXT_CHARS:
            row = next(i for i, v in enumerate(values) if len(v) > MAX_TEXT_CHARS)
            raise DataError(source, f"{len(values[row]):,} characters, over the limit of "
                            f"{MAX_TEXT_CHARS:,} for one field (MAX_TEXT_CHARS)",
                            line=_line(lines, row), field=col)


def _event_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype(categories=list(EVENT_TYPES), ordered=True)


@dataclass
class Catalog:
    """Items with their text fields; one row per unique item_id."""

    items: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "catalog") -> Catalog:
        """Fill optional columns, fix dtypes and check ids are present and unique."""
        if "item_id" not in frame.columns:
            raise DataError(source, "missing required column", field="item_id")
        if "title" not in frame.columns:
            raise DataError(source, "missing required column", field="title")
        # Columns built first, one frame made once: column-by-column assignment cost ~6 ms of
        # pandas overhead per call, which a one-item PUT /items pays on every request.
        columns = {}
        for col, dtype in ITEM_COLUMNS.items():
            if col in frame.columns:
                values = frame[col].to_numpy()
            else:
                values = np.full(len(frame), np.nan if dtype == "float64" else "", dtype=object)
            column = pd.Series(values).astype(dtype)
            columns[col] = column.fillna("") if dtype == "string" else column
        out = pd.DataFrame(columns)  # every column has the same RangeIndex: no alignment
        # Errors name the source line when the frame carries one (loaders), else the row.
        lines = frame["line"].to_numpy() if "line" in frame.columns else None
        if (out["item_id"] == "").any():
            row = int(np.flatnonzero((out["item_id"] == "").to_numpy())[0])
            raise DataError(source, "empty item id", line=_line(lines, row), field="item_id")
        dup = out["item_id"].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise DataError(
                source, f"duplicate item id {shown(out['item_id'].iloc[row])}",
                line=_line(lines, row), field="item_id",
            )
        _check_text_sizes(out, source, lines)
        return cls(out.reset_index(drop=True))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> pd.Index:
        """Item ids in index order: position i is item index i."""
        return pd.Index(self.items["item_id"])


@dataclass
class Interactions:
    """One row per event, sorted by (user_id, timestamp) with a stable tie order."""

    events: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "interactions") -> Interactions:
        """Fix dtypes and sort; `value` defaults to 1 and `event` to "purchase"."""
        for col in ("user_id", "item_id", "timestamp"):
            if col not in frame.columns:
                raise DataError(source, "missing required column", field=col)
        out = pd.DataFrame(index=range(len(frame)))
        out["user_id"] = frame["user_id"].astype("string").to_numpy()
        out["item_id"] = frame["item_id"].astype("string").to_numpy()
        out["timestamp"] = frame["timestamp"].astype("int64").to_numpy()
        event = frame["event"].to_numpy() if "event" in frame.columns else "purchase"
        out["event"] = pd.Series(np.broadcast_to(event, len(frame))).astype(_event_dtype())
        if out["event"].isna().any():
            row = int(np.flatnonzero(out["event"].isna().to_numpy())[0])
            bad = np.broadcast_to(event, len(frame))[row]
            raise DataError(
                source, f"unknown event type {shown(bad)} (expected one of {EVENT_TYPES})",
                line=row + 1, field="event",
            )
        value = frame["value"].to_numpy() if "value" in frame.columns else 1.0
        out["value"] = np.broadcast_to(np.asarray(value, dtype="float32"), len(frame))
        out = out.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
        return cls(out)

    def __len__(self) -> int:
        return len(self.events)


@dataclass
class SourceCounts:
    """What the raw source held before any row was dropped, counted the way its publisher does."""

    rows: int  # interaction rows (lines) in the source
    users: int  # distinct users over all those rows
    items: int  # distinct items over all those rows
    extra: dict[str, int] = field(default_factory=dict)  # per format, e.g. {"tags": 3683}


@dataclass
class Dataset:
    """A catalog plus interactions, with the one id-to-index mapping used everywhere."""

    name: str
    catalog: Catalog
    interactions: Interactions
    dropped: DropReport = field(default_factory=DropReport)
    has_time: bool = True  # False when timestamps are ordinal positions (sequence files)
    source: SourceCounts | None = None  # set by loaders of public files; None for derived sets

    def __post_init__(self) -> None:
        known = self.catalog.ids
        unknown = ~self.interactions.events["item_id"].isin(known)
        if unknown.any():
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            item = self.interactions.events["item_id"].iloc[row]
            raise DataError(
                self.name, f"interaction for item {shown(item)} that is not in the catalog",
                field="item_id",
            )
        self._user_index = pd.Index(pd.unique(self.interactions.events["user_id"]))

    @property
    def user_ids(self) -> pd.Index:
        """User ids in index order (first appearance in the sorted events)."""
        return self._user_index

    @property
    def item_ids(self) -> pd.Index:
        """Item ids in index order (catalog row order)."""
        return self.catalog.ids

    @property
    def num_users(self) -> int:
        return len(self._user_index)

    @property
    def num_items(self) -> int:
        return len(self.catalog)

    def encoded(self) -> pd.DataFrame:
        """Events with integer `user`, `item` and `event_idx` columns added (sorted as stored)."""
        ev = self.interactions.events
        out = ev.copy()
        out["user"] = self._user_index.get_indexer(ev["user_id"]).astype("int64")
        out["item"] = self.catalog.ids.get_indexer(ev["item_id"]).astype("int64")
        out["event_idx"] = ev["event"].cat.codes.astype("int64")
        return out

    def sequences(self) -> list[np.ndarray]:
        """Per user (in user index order), the item indices of their events in time order."""
        enc = self.encoded()
        order = np.argsort(enc["user"].to_numpy(), kind="stable")
        users = enc["user"].to_numpy()[order]
        items = enc["item"].to_numpy()[order]
        # searchsorted, not diff: a user without events (possible after a split) gets []
        bounds = np.searchsorted(users, np.arange(1, self.num_users))
        return np.split(items, bounds)

    def with_interactions(self, events: pd.DataFrame, name: str | None = None) -> Dataset:
        """Same catalog and user index, another event table (used by splits)."""
        out = Dataset(
            name or self.name, self.catalog, Interactions.from_frame(events, name or self.name),
            self.dropped, self.has_time,
        )
        # Keep user indices: a split's train set may lose users, its eval cases must not shift.
        if (self._user_index.get_indexer(out._user_index) >= 0).all():
            out._user_index = self._user_index
        return out
