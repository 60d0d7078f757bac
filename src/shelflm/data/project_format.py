"""shelflm's own dataset format: a folder with items.parquet, interactions.parquet, meta.json.

Parquet keeps the dtypes exactly, so `read_project_dataset(write_project_dataset(d, dir))`
equals `d`; meta.json (human-readable) holds the name, whether timestamps are a clock,
the rows dropped on purpose by reason, and the source's own counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.schema import Catalog, Dataset, Interactions, SourceCounts

ITEMS_FILE, INTERACTIONS_FILE, META_FILE = "items.parquet", "interactions.parquet", "meta.json"
FORMAT_VERSION = 1


def is_project_dataset(path: Path) -> bool:
    """A folder with meta.json and both Parquet tables."""
    return path.is_dir() and all(
        (path / name).is_file() for name in (ITEMS_FILE, INTERACTIONS_FILE, META_FILE))


def write_project_dataset(dataset: Dataset, out_dir: str | Path) -> Path:
    """Write `dataset` into `out_dir` (created if needed) and return the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset.catalog.items.to_parquet(out / ITEMS_FILE, index=False)
    dataset.interactions.events.to_parquet(out / INTERACTIONS_FILE, index=False)
    source = dataset.source
    meta = {
        "format_version": FORMAT_VERSION,
        "name": dataset.name,
        "has_time": dataset.has_time,
        "dropped": dict(sorted(dataset.dropped.counts.items())),
        "source": None if source is None else {
            "rows": source.rows, "users": source.users, "items": source.items,
            "extra": source.extra,
        },
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return out


def read_project_dataset(path: str | Path) -> Dataset:
    """Read a folder written by `write_project_dataset`."""
    folder = Path(path)
    meta_path = folder / META_FILE
    meta = _read_meta(meta_path)
    items = read_parquet(folder / ITEMS_FILE)
    events = read_parquet(folder / INTERACTIONS_FILE)
    dropped = DropReport(Counter(_counts(meta["dropped"], meta_path, "dropped")))
    src = meta.get("source")
    source = None
    if src is not None:
        if not isinstance(src, dict):
            raise DataError(meta_path, "expected an object or null", field="source")
        counts = _counts({k: src.get(k) for k in ("rows", "users", "items")}, meta_path,
                         "source")
        source = SourceCounts(counts["rows"], counts["users"], counts["items"],
                              _counts(src.get("extra", {}), meta_path, "source.extra"))
        # A table cut short (or swapped) must not pass as the complete dataset.
        if source.rows != len(events) + dropped.total:
            raise DataError(meta_path, f"the source had {source.rows:,} rows but "
                            f"{INTERACTIONS_FILE} holds {len(events):,} and {dropped.total:,} "
                            "were dropped: the folder is incomplete or mixed", field="source")
    try:
        return Dataset(
            str(meta["name"]), Catalog.from_frame(items, str(folder / ITEMS_FILE)),
            Interactions.from_frame(events, str(folder / INTERACTIONS_FILE)), dropped,
            bool(meta["has_time"]), source,
        )
    except (TypeError, ValueError) as exc:  # columns of the wrong type (DataError passes)
        if isinstance(exc, DataError):
            raise
        raise DataError(folder, f"tables do not match the project format: {exc}") from exc


def _read_meta(meta_path: Path) -> dict:
    try:
        data = meta_path.read_bytes()
        if b"\x00" in data:  # what JSON saved as UTF-16 looks like
            raise DataError(meta_path, "not UTF-8 text (NUL bytes: UTF-16 or binary data); "
                            "save it as UTF-8")
        meta = json.loads(data.decode("utf-8-sig"))
    except FileNotFoundError as exc:
        raise DataError(meta_path, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise DataError(meta_path, f"not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(meta_path, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    except RecursionError as exc:
        raise DataError(meta_path, "not valid JSON: nested too deeply") from exc
    if not isinstance(meta, dict):
        raise DataError(meta_path, f"expected a JSON object, got {type(meta).__name__}")
    for key in ("name", "has_time", "dropped"):
        if key not in meta:
            raise DataError(meta_path, "missing required key", field=key)
    version = meta.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError(meta_path, f"expected an integer, got {shown(version)}",
                        field="format_version")
    if version > FORMAT_VERSION:
        raise DataError(meta_path, f"format_version {version} is newer than this shelflm reads "
                        f"({FORMAT_VERSION})", field="format_version")
    return meta


def _counts(value: object, meta_path: Path, key: str) -> dict[str, int]:
    """A JSON object of non-negative integer counts, checked."""
    if not isinstance(value, dict):
        raise DataError(meta_path, "expected an object of counts", field=key)
    for name, count in value.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise DataError(meta_path, f"count {shown(count)} is not a non-negative integer",
                            field=f"{key}.{name}")
    return dict(value)


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as a frame, checked whole (invalid UTF-8 in a string column too, which
    pyarrow otherwise lets through until a string operation); DataError when it is not."""
    try:
        table = pq.read_table(path)
        table.validate(full=True)
        return table.to_pandas()
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    # Corrupt bytes surface as any of these, from pyarrow or from pandas' metadata.
    except (OSError, ValueError, LookupError, TypeError, pa.ArrowException) as exc:
        raise DataError(path, f"not a readable Parquet file: {exc}") from exc
