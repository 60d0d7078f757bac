"""Loaders for the public formats real shops and benchmarks use, and `load_dataset` that picks one.

Each format registers a detector (does this file or folder look like me?) and a loader
(path, **options) -> Dataset. Detection tries the formats in registry order, most
specific first, so the generic table comes last.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelflm.data.errors import DataError
from shelflm.data.loaders.amazon_bundle import (
    is_amazon_bundle,
    is_amazon_bundle_sessions,
    load_amazon_bundle,
    load_amazon_bundle_sessions,
    load_bundle_intents,
)
from shelflm.data.loaders.amazon_reviews import is_amazon_reviews, load_amazon_reviews
from shelflm.data.loaders.generic import (
    ColumnMapping,
    TableSourceConfig,
    is_table,
    load_table,
    read_catalog_table,
)
from shelflm.data.loaders.movielens_100k import is_movielens_100k, load_movielens_100k
from shelflm.data.loaders.movielens_csv import is_movielens_csv, load_movielens_csv
from shelflm.data.loaders.online_retail import is_online_retail, load_online_retail
from shelflm.data.loaders.recbole import is_recbole, load_recbole
from shelflm.data.loaders.sequences import is_sequences, load_sequences
from shelflm.data.project_format import is_project_dataset, read_project_dataset
from shelflm.data.schema import Catalog, Dataset

__all__ = [
    "FORMATS", "ColumnMapping", "DatasetFormat", "TableSourceConfig", "detect_format",
    "load_amazon_bundle", "load_amazon_bundle_sessions", "load_amazon_reviews",
    "load_bundle_intents", "load_catalog", "load_dataset",
    "load_movielens_100k", "load_movielens_csv", "load_online_retail", "load_recbole",
    "load_sequences", "load_table",
]


@dataclass(frozen=True)
class DatasetFormat:
    """One readable format: its name, how to recognise it and how to load it."""

    name: str
    detect: Callable[[Path], bool]
    load: Callable[..., Dataset]
    help: str


FORMATS: dict[str, DatasetFormat] = {f.name: f for f in (
    DatasetFormat("project", is_project_dataset, read_project_dataset,
                  "shelflm's own folder: items.parquet, interactions.parquet, meta.json"),
    DatasetFormat("movielens-100k", is_movielens_100k, load_movielens_100k,
                  "GroupLens ML-100K folder (u.data, u.item, u.genre)"),
    DatasetFormat("movielens", is_movielens_csv, load_movielens_csv,
                  "GroupLens ratings.csv/movies.csv/tags.csv, or ML-1M .dat files"),
    DatasetFormat("sequences", is_sequences, load_sequences,
                  "SASRec-style sequences.txt (user item item ...) + items.csv"),
    DatasetFormat("amazon-bundle", is_amazon_bundle, load_amazon_bundle,
                  "Amazon bundle/intent domain folder (user_item.csv, item_titles.csv, ...)"),
    DatasetFormat("amazon-bundle-sessions", is_amazon_bundle_sessions,
                  load_amazon_bundle_sessions,
                  "the same folder's sessions as sequences (session_item.csv; by name only)"),
    DatasetFormat("amazon-reviews", is_amazon_reviews, load_amazon_reviews,
                  "Amazon review JSON lines 2014/2018 (+ meta_*.json), gzipped or not"),
    DatasetFormat("recbole", is_recbole, load_recbole,
                  "RecBole atomic files (.inter, .item with name:type headers)"),
    DatasetFormat("online-retail", is_online_retail, load_online_retail,
                  "UCI Online Retail CSV (InvoiceNo,StockCode,...)"),
    DatasetFormat("table", is_table, load_table,
                  "any CSV/Parquet event table with a column mapping (--map field=column)"),
)}


def detect_format(source: str | Path) -> str:
    """The name of the first registered format that recognises `source`."""
    path = Path(source)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    for fmt in FORMATS.values():
        if fmt.detect(path):
            return fmt.name
    if path.is_dir():
        subfolders = sorted(p.name for p in path.iterdir() if p.is_dir())
        hint = f"; it has subfolders {subfolders}: pass one of them" if subfolders else ""
        raise DataError(path, f"no known dataset format in this folder{hint} (formats: "
                        f"{', '.join(FORMATS)})")
    raise DataError(path, f"unrecognised file format; pass format= one of {', '.join(FORMATS)}")


def load_catalog(source: str | Path) -> Catalog:
    """A shop's catalog alone: a table file (read_catalog_table) or a dataset in any known
    format (its catalog; its events are not used)."""
    path = Path(source)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    return read_catalog_table(path) if is_table(path) else load_dataset(path).catalog


def load_dataset(source: str | Path, format: str | None = None, **options: Any) -> Dataset:
    """Load a dataset from a file or folder, detecting its format unless one is given."""
    name = format or detect_format(source)
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}")
    load = FORMATS[name].load
    try:  # check the options against the loader's signature before reading anything
        inspect.signature(load).bind(Path(source), **options)
    except TypeError as exc:
        accepted = [p for p in inspect.signature(load).parameters][1:]
        raise ValueError(f"format {name!r}: {exc} (options it takes: {accepted or 'none'})"
                         ) from exc
    return load(Path(source), **options)
