"""Any CSV or Parquet event table, with a mapping from shelflm's field names to its columns.

`--map user_id=customer --map item_id=sku` on the command line, or a `[data.columns]`
table in the config, become a `ColumnMapping`. Item fields (title, brand, ...) may come
from the same table (first value per item wins) or from a separate catalog file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.loaders import common, reading
from shelflm.data.project_format import read_parquet
from shelflm.data.schema import EVENT_TYPES, Catalog, Dataset

ITEM_FIELDS = ("title", "brand", "category", "price", "description")


class ColumnMapping(BaseModel):
    """Which source column holds each shelflm field (unset fields are absent)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field("user_id", description="Column with the user (customer) id.")
    item_id: str = Field("item_id", description="Column with the item (product, SKU) id.")
    timestamp: str | None = Field(
        "timestamp", description="Column with unix seconds or ISO dates; None: row order.")
    event: str | None = Field(None, description=f"Column with event types {EVENT_TYPES}.")
    value: str | None = Field(None, description="Column with the rating or quantity.")
    title: str | None = Field(None, description="Item title column.")
    brand: str | None = Field(None, description="Item brand column.")
    category: str | None = Field(None, description="Item category path column.")
    price: str | None = Field(None, description="Item price column.")
    description: str | None = Field(None, description="Item description column.")

    @classmethod
    def from_pairs(cls, pairs: list[str]) -> ColumnMapping:
        """Parse `field=column` strings as given to `--map`."""
        values: dict[str, str | None] = {}
        for pair in pairs:
            name, sep, column = pair.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. user_id=customer")
            if name.strip() not in cls.model_fields:
                raise ValueError(f"--map {pair!r}: unknown field {name.strip()!r} (fields: "
                                 f"{', '.join(cls.model_fields)})")
            values[name.strip()] = column.strip() or None
        return cls(**values)


class TableSourceConfig(BaseModel):
    """A generic event table and how to read it."""

    model_config = ConfigDict(extra="forbid")

    columns: ColumnMapping = Field(default_factory=ColumnMapping,
                                   description="Source column of each shelflm field.")
    items_path: Path | None = Field(None, description="Optional catalog file (CSV/Parquet) "
                                    "keyed by the same item column.")
    default_event: str = Field("purchase", description="Event type when no event column.")
    rating_range: tuple[float, float] | None = Field(
        None, description="Allowed [low, high] of `value` for rating events.")

    @model_validator(mode="after")
    def _check(self) -> TableSourceConfig:
        if self.default_event not in EVENT_TYPES:
            raise ValueError(f"default_event {self.default_event!r} not in {EVENT_TYPES}")
        return self


def is_table(path: Path) -> bool:
    """A single .csv/.tsv/.parquet file (the fallback format)."""
    return path.is_file() and path.name.endswith((".csv", ".tsv", ".parquet", ".csv.gz"))


def read_any_table(path: Path) -> pd.DataFrame:
    """CSV (separator sniffed) or Parquet, as strings, with a `line` column."""
    if path.suffix == ".parquet":
        frame = read_parquet(path)
        frame = frame.astype(str).where(frame.notna(), "")
        # Parquet has no lines; row numbers (1-based) still let a user find the row.
        frame.insert(0, "line", np.arange(1, len(frame) + 1, dtype=np.int64))
        return frame
    return common.read_table(path, sep=reading.sniff_separator(path))


def read_catalog_table(path: Path) -> Catalog:
    """A catalog file on its own (CSV, TSV or Parquet): item_id and title columns, and any
    of brand, category, price, description and attributes; errors name the line and field."""
    table = read_any_table(path)
    common.require_columns(table, ["item_id", "title"], path)
    items = pd.DataFrame({"line": table["line"], "item_id": table["item_id"].str.strip()})
    for field in (*ITEM_FIELDS, "attributes"):
        if field in table.columns:
            items[field] = (common.to_number(table, field, path, allow_empty=True)
                            if field == "price" else table[field].to_numpy())
    return Catalog.from_frame(items, str(path))


def load_table(path: str | Path, config: TableSourceConfig | None = None, *,
               mapping: ColumnMapping | dict[str, str] | None = None) -> Dataset:
    """Events (and item fields) from a table, columns named by the mapping."""
    path = Path(path)
    config = config or TableSourceConfig()
    if mapping is not None:
        cols = mapping if isinstance(mapping, ColumnMapping) else ColumnMapping(**mapping)
        config = config.model_copy(update={"columns": cols})
    cols = config.columns
    raw = read_any_table(path)
    wanted = [c for c in (cols.user_id, cols.item_id, cols.timestamp, cols.event, cols.value)
              if c]
    common.require_columns(raw, wanted, path)
    events = pd.DataFrame({"line": raw["line"], "user_id": raw[cols.user_id].str.strip(),
                           "item_id": raw[cols.item_id].str.strip()})
    for field, column in (("user_id", cols.user_id), ("item_id", cols.item_id)):
        empty = events[field] == ""
        if empty.any():
            raise DataError(path, "empty id", line=common.first_bad(events, empty), field=column)
    events["timestamp"] = (common.to_unix_seconds(raw, cols.timestamp, path) if cols.timestamp
                           else np.arange(len(raw), dtype=np.int64))
    events["event"] = raw[cols.event].str.strip() if cols.event else config.default_event
    if cols.event:
        bad = ~events["event"].isin(EVENT_TYPES)
        if bad.any():
            raise DataError(path, f"unknown event type {shown(events['event'][bad].iloc[0])} "
                            f"(expected one of {EVENT_TYPES})", line=common.first_bad(raw, bad),
                            field=cols.event)
    events["value"] = common.to_number(raw, cols.value, path) if cols.value else 1.0
    if config.rating_range is not None:
        rated = (events["event"] == "rating").to_numpy()
        values = np.where(rated, events["value"].to_numpy(), config.rating_range[0])
        common.check_range(raw, values, cols.value or "value", path, *config.rating_range)
    source = common.count_source(events)
    items = _items(raw, events, config, path)
    items = common.check_known_items(events, items, path, create_missing=False)
    dropped = DropReport()
    events = common.drop_duplicates(events, ["user_id", "item_id", "timestamp", "event",
                                             "value"], dropped, "exact duplicate event")
    name = path.name.split(".")[0]
    return common.build_dataset(name, items, events, path, dropped=dropped,
                                has_time=cols.timestamp is not None, source=source,
                                items_file=config.items_path or path)


def _items(raw: pd.DataFrame, events: pd.DataFrame, config: TableSourceConfig, path: Path
           ) -> pd.DataFrame:
    cols = config.columns
    if config.items_path is not None:
        table = read_any_table(config.items_path)
        common.require_columns(table, [cols.item_id], config.items_path)
        items = pd.DataFrame({"line": table["line"], "item_id": table[cols.item_id].str.strip()})
        source, where = table, config.items_path
    else:
        # Items are whatever the events mention; the first row of each gives its fields.
        first = ~events["item_id"].duplicated().to_numpy()
        items = pd.DataFrame({"line": raw["line"][first], "item_id": events["item_id"][first]})
        source, where = raw[first], path
    for field in ITEM_FIELDS:
        column = getattr(cols, field)
        if column is None:
            continue
        common.require_columns(source, [column], where)
        items[field] = (common.to_number(source, column, where, allow_empty=True)
                        if field == "price" else source[column].to_numpy())
    if "title" not in items.columns:
        items["title"] = ""
    return items.reset_index(drop=True)
