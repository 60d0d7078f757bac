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

from shelflm.data.errors import DataError, DropReport
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
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise DataError(meta_path, "file not found") from exc
    except json.JSONDecodeError as exc:
        raise DataError(meta_path, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    for key in ("name", "has_time", "dropped"):
        if key not in meta:
            raise DataError(meta_path, "missing required key", field=key)
    if meta.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise DataError(meta_path, f"format_version {meta['format_version']} is newer than this "
                        f"shelflm reads ({FORMAT_VERSION})", field="format_version")
    items = _read_parquet(folder / ITEMS_FILE)
    events = _read_parquet(folder / INTERACTIONS_FILE)
    src = meta.get("source")
    source = None if src is None else SourceCounts(
        int(src["rows"]), int(src["users"]), int(src["items"]),
        {k: int(v) for k, v in src.get("extra", {}).items()})
    return Dataset(
        str(meta["name"]), Catalog.from_frame(items, str(folder / ITEMS_FILE)),
        Interactions.from_frame(events, str(folder / INTERACTIONS_FILE)),
        DropReport(Counter({k: int(v) for k, v in meta["dropped"].items()})),
        bool(meta["has_time"]), source,
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a readable Parquet file: {exc}") from exc
