"""Shared reading and validation steps of the loaders; every error names file, line and field.

Frames read here keep a `line` column (1-based line in the file) through filtering, so
a bad value found late still points at the line a user can open in an editor.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.loaders import reading
from shelflm.data.schema import Catalog, Dataset, Interactions, SourceCounts

_PARSER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
UTF8_OR_LATIN1 = ("utf-8", "latin-1")  # legacy exports: UTF-8 when it decodes, else latin-1
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z; larger "seconds" are no clock


def read_table(
    path: Path, *, sep: str = ",", names: list[str] | None = None,
    encoding: str | tuple[str, ...] = "utf-8", quoting: int = csv.QUOTE_MINIMAL,
    required: list[str] | None = None, source: Path | None = None,
) -> pd.DataFrame:
    """Read a delimited file as strings with a `line` column; bad shapes become DataErrors.

    With `names` the file has no header and every line must have exactly that many fields;
    otherwise the header gives the columns and `required` lists those that must exist.
    `encoding` may list several, tried in order (`UTF8_OR_LATIN1` for legacy exports).
    `source` names the file in errors when `path` is an in-memory buffer.
    """
    header = None if names is not None else 0
    buffer, path = path, source or path  # errors name the file even when reading a buffer
    encodings = (encoding,) if isinstance(encoding, str) else encoding
    try:
        frame = reading.read_csv(
            buffer, path, encodings, sep=sep, header=header, dtype=str, keep_default_na=False,
            na_filter=False, quoting=quoting, skip_blank_lines=False,
            engine="c" if len(sep) == 1 else "python",
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "file is empty") from exc
    except pd.errors.ParserError as exc:
        found = _PARSER_LINE.search(str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataError(path, f"wrong number of fields: expected {expected}, found {saw}",
                            line=int(line)) from exc
        raise DataError(path, f"unreadable: {str(exc).strip()}") from exc
    except ValueError as exc:  # other pandas complaints about the bytes (DataError passes)
        if isinstance(exc, DataError):
            raise
        raise DataError(path, f"unreadable: {str(exc).strip()}") from exc
    offset = 1 if names is not None else 2  # first data row is line 1, or 2 after a header
    frame.insert(0, "line", np.arange(offset, offset + len(frame), dtype=np.int64))
    if names is not None:
        # The first line fixes the width pandas expects; compare it with the format's.
        width = frame.shape[1] - 1
        if width != len(names):
            raise DataError(path, f"wrong number of fields: expected {len(names)}, found "
                            f"{width}", line=1)
        frame.columns = ["line", *names]
    # Blank lines are allowed (files often end with one); they arrive as all-empty rows.
    data_cols = [c for c in frame.columns if c != "line"]
    blank = (frame[data_cols] == "").all(axis=1)
    frame = frame[~blank.to_numpy()].reset_index(drop=True)
    if names is not None:
        # Too few fields leave trailing columns empty; the last name must always be filled.
        short = frame[names[-1]] == ""
        if short.any():
            row = frame[short.to_numpy()].iloc[0]
            raw_fields = sum(1 for c in names if row[c] != "")
            raise DataError(path, f"wrong number of fields: expected {len(names)}, found "
                            f"{raw_fields}", line=int(row["line"]), field=names[-1])
    require_columns(frame, required or [], path)
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], source: Path | str) -> None:
    """Raise a DataError naming the first column in `columns` that `frame` lacks."""
    for col in columns:
        if col not in frame.columns:
            have = [c for c in frame.columns if c != "line"]
            listed = ", ".join(shown(c) for c in have[:10]) + (", ..." if len(have) > 10 else "")
            raise DataError(source, f"missing required column (columns are: {listed})",
                            field=col)


def first_bad(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> int | None:
    """The file line of the first row where `mask` is true (None when there is none)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    return int(frame["line"].to_numpy()[np.flatnonzero(mask)[0]])


def to_number(
    frame: pd.DataFrame, column: str, source: Path | str, *, integer: bool = False,
    allow_empty: bool = False,
) -> np.ndarray:
    """Column parsed as finite numbers; the first bad value raises naming its line."""
    raw = frame[column]
    try:  # one vectorised cast; the slow parse below only runs when some value is not a float
        values = raw.astype("float64").to_numpy()
    except (ValueError, TypeError):
        values = pd.to_numeric(raw.astype(str).str.strip(), errors="coerce").to_numpy(
            dtype="float64")
    bad = ~np.isfinite(values)  # unparsable (NaN), "nan" and "inf" alike
    if allow_empty:
        bad &= (raw.astype(str).str.strip() != "").to_numpy()
    if integer:
        bad |= np.isfinite(values) & (values != np.floor(values))
    line = first_bad(frame, bad)
    if line is not None:
        value = raw.to_numpy()[np.flatnonzero(bad)[0]]
        kind = "an integer" if integer else "a number"
        raise DataError(source, f"{shown(value)} is not {kind}", line=line, field=column)
    return values


def to_unix_seconds(frame: pd.DataFrame, column: str, source: Path | str) -> np.ndarray:
    """Timestamps as int64 unix seconds, from integer seconds or ISO/date strings."""
    raw = frame[column].astype(str).str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        seconds = numeric.to_numpy(dtype="float64")
        line = first_bad(frame, ~(np.abs(seconds) <= MAX_UNIX_SECONDS))
        if line is not None:
            value = raw.to_numpy()[np.flatnonzero(~(np.abs(seconds) <= MAX_UNIX_SECONDS))[0]]
            raise DataError(source, f"timestamp {shown(value)} is past the year 9999 as unix "
                            "seconds (milliseconds? divide by 1000)", line=line, field=column)
        return np.floor(seconds).astype(np.int64)
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
    if parsed.isna().any():
        # Many exports (e.g. Excel's US locale) write month/day/year dates.
        fallback = pd.to_datetime(raw, errors="coerce", format="%m/%d/%Y %H:%M", utc=True)
        parsed = parsed.fillna(fallback)
    line = first_bad(frame, parsed.isna())
    if line is not None:
        value = raw.to_numpy()[np.flatnonzero(parsed.isna().to_numpy())[0]]
        raise DataError(source, f"unparsable timestamp {shown(value)} (expected unix seconds "
                        "or an ISO date)", line=line, field=column)
    # Divide by a Timedelta: pandas may store these in s, ms, us or ns resolution.
    epoch = pd.Timestamp(0, tz="UTC")
    return ((parsed - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def check_range(
    frame: pd.DataFrame, values: np.ndarray, column: str, source: Path | str,
    low: float, high: float,
) -> None:
    """Raise naming the first value outside [low, high]."""
    bad = (values < low) | (values > high)
    line = first_bad(frame, bad)
    if line is not None:
        value = values[np.flatnonzero(bad)[0]]
        raise DataError(source, f"rating {value:g} out of range [{low:g}, {high:g}]", line=line,
                        field=column)


def drop_duplicates(
    events: pd.DataFrame, columns: list[str], dropped: DropReport, reason: str,
) -> pd.DataFrame:
    """Drop rows equal on `columns` to an earlier row, counting them under `reason`."""
    dup = events.duplicated(subset=columns, keep="first").to_numpy()
    dropped.add(reason, int(dup.sum()))
    return events[~dup].reset_index(drop=True)


def check_known_items(
    events: pd.DataFrame, items: pd.DataFrame, source: Path | str, *, create_missing: bool,
    extra: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Catalog rows for every event's item: an error by default, or title-less rows created.

    Some public copies (Amazon reviews) legitimately have reviews of products without
    metadata; their loaders pass `create_missing=True` and the count goes into `extra`.
    """
    unknown = ~events["item_id"].isin(items["item_id"]).to_numpy()
    if not unknown.any():
        return items
    if not create_missing:
        row = int(np.flatnonzero(unknown)[0])
        item = events["item_id"].iloc[row]
        line = int(events["line"].iloc[row]) if "line" in events.columns else None
        raise DataError(source, f"interaction for item {shown(item)} that is not in the "
                        "catalog", line=line, field="item_id")
    missing = pd.unique(events["item_id"].to_numpy()[unknown])
    if extra is not None:
        extra["items without metadata (title-less catalog rows created)"] = len(missing)
    return pd.concat([items, pd.DataFrame({"item_id": missing, "title": ""})],
                     ignore_index=True)


def build_dataset(
    name: str, items: pd.DataFrame, events: pd.DataFrame, source_file: Path | str, *,
    dropped: DropReport | None = None, has_time: bool = True,
    source: SourceCounts | None = None, items_file: Path | str | None = None,
) -> Dataset:
    """Assemble the Dataset from cleaned frames; catalog errors name `items_file` and its line.

    `items_file` is the file the catalog rows came from (default: `source_file`).
    """
    events = events.drop(columns=["line"], errors="ignore").reset_index(drop=True)
    return Dataset(
        name, Catalog.from_frame(items.reset_index(drop=True), str(items_file or source_file)),
        Interactions.from_frame(events, str(source_file)), dropped or DropReport(), has_time,
        source,
    )


def count_source(events: pd.DataFrame, **extra: int) -> SourceCounts:
    """SourceCounts over raw event rows (before any row is dropped)."""
    return SourceCounts(
        rows=len(events), users=int(events["user_id"].nunique()),
        items=int(events["item_id"].nunique()), extra={k.replace("_", " "): int(v)
                                                       for k, v in extra.items()},
    )
