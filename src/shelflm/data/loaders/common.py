"""Shared reading and validation steps of the loaders; every error names file, line and field.

Frames read here keep a `line` column (1-based line in the file) through filtering, so
a bad value found late still points at the line a user can open in an editor.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport
from shelflm.data.schema import Catalog, Dataset, Interactions, SourceCounts

_PARSER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    """Open a plain or gzipped text file (gzip recognised by its magic bytes, not its name)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")  # noqa: SIM115 - caller closes


def iter_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(1-based line number, text) for each non-blank line of a plain or gzipped file."""
    with open_text(path, encoding) as fh:
        for number, text in enumerate(fh, start=1):
            if text.strip():
                yield number, text


def sniff_separator(path: Path, candidates: str = ",\t;|") -> str:
    """The delimiter of a CSV-like file, from its header line."""
    with open_text(path, "latin-1") as fh:  # latin-1 decodes any bytes; headers are ASCII
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in candidates}
    best = max(counts, key=lambda sep: counts[sep])
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(header).delimiter
        except csv.Error:
            return ","
    return best


def read_table(
    path: Path, *, sep: str = ",", names: list[str] | None = None, encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL, required: list[str] | None = None,
    source: Path | None = None,
) -> pd.DataFrame:
    """Read a delimited file as strings with a `line` column; bad shapes become DataErrors.

    With `names` the file has no header and every line must have exactly that many fields;
    otherwise the header gives the columns and `required` lists those that must exist.
    `source` names the file in errors when `path` is an in-memory buffer.
    """
    header = None if names is not None else 0
    buffer, path = path, source or path  # errors name the file even when reading a buffer
    try:
        frame = pd.read_csv(
            buffer, sep=sep, header=header, dtype=str, keep_default_na=False,
            na_filter=False, encoding=encoding, quoting=quoting, skip_blank_lines=False,
            engine="c" if len(sep) == 1 else "python",
        )
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "file is empty") from exc
    except pd.errors.ParserError as exc:
        found = _PARSER_LINE.search(str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataError(path, f"wrong number of fields: expected {expected}, found {saw}",
                            line=int(line)) from exc
        raise DataError(path, f"unreadable: {str(exc).strip()}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not {encoding} text: {exc.reason}") from exc
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
            have = ", ".join(c for c in frame.columns if c != "line")
            raise DataError(source, f"missing required column (columns are: {have})", field=col)


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
    """Column parsed as numbers; the first unparsable value raises naming its line."""
    raw = frame[column]
    try:  # fast path: one vectorised cast; the slow parse below only runs to find a bad value
        values = raw.astype("float64")
        if not allow_empty and not integer and not values.isna().any():
            return values.to_numpy()
    except (ValueError, TypeError):
        values = pd.to_numeric(raw.astype(str).str.strip(), errors="coerce")
    bad = values.isna().to_numpy()
    if allow_empty:
        bad = bad & (raw.astype(str).str.strip() != "").to_numpy()
    if integer:
        bad = bad | (~values.isna() & (values != np.floor(values))).to_numpy()
    line = first_bad(frame, bad)
    if line is not None:
        shown = raw.to_numpy()[np.flatnonzero(bad)[0]]
        kind = "an integer" if integer else "a number"
        raise DataError(source, f"{shown!r} is not {kind}", line=line, field=column)
    return values.to_numpy(dtype="float64")


def to_unix_seconds(frame: pd.DataFrame, column: str, source: Path | str) -> np.ndarray:
    """Timestamps as int64 unix seconds, from integer seconds or ISO/date strings."""
    raw = frame[column].astype(str).str.strip()
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        return np.floor(numeric.to_numpy(dtype="float64")).astype(np.int64)
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
    if parsed.isna().any():
        # Many exports (e.g. Excel's US locale) write month/day/year dates.
        fallback = pd.to_datetime(raw, errors="coerce", format="%m/%d/%Y %H:%M", utc=True)
        parsed = parsed.fillna(fallback)
    line = first_bad(frame, parsed.isna())
    if line is not None:
        shown = raw.to_numpy()[np.flatnonzero(parsed.isna().to_numpy())[0]]
        raise DataError(source, f"unparsable timestamp {shown!r} (expected unix seconds or an "
                        "ISO date)", line=line, field=column)
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
        shown = values[np.flatnonzero(bad)[0]]
        raise DataError(source, f"rating {shown:g} out of range [{low:g}, {high:g}]", line=line,
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
        raise DataError(source, f"interaction for item {item!r} that is not in the catalog",
                        line=line, field="item_id")
    missing = pd.unique(events["item_id"].to_numpy()[unknown])
    if extra is not None:
        extra["items without metadata (title-less catalog rows created)"] = len(missing)
    return pd.concat([items, pd.DataFrame({"item_id": missing, "title": ""})],
                     ignore_index=True)


def build_dataset(
    name: str, items: pd.DataFrame, events: pd.DataFrame, source_file: Path | str, *,
    dropped: DropReport | None = None, has_time: bool = True,
    source: SourceCounts | None = None,
) -> Dataset:
    """Assemble the Dataset from cleaned frames (the `line` column is left behind)."""
    items = items.drop(columns=["line"], errors="ignore").reset_index(drop=True)
    events = events.drop(columns=["line"], errors="ignore").reset_index(drop=True)
    return Dataset(
        name, Catalog.from_frame(items, str(source_file)),
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
