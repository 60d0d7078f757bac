"""Files of per-item vectors of another modality (image embeddings made by any encoder, ...):
item id -> vector, one vector per item, read for `ModalityConfig(kind="vector")`.

Formats, chosen by the file's name (text files may be gzipped, recognised by their bytes):
- `.csv` / `.tsv` (also `.csv.gz`, `.txt`: tab when the first line has one): one item per
  line, `item_id,v0,v1,...`; a first line whose second field is not a number is a header.
  What a shop exports from a spreadsheet or a SQL table.
- `.npz`: numpy's archive with `ids` (n,) strings and `vectors` (n, d) numbers, as
  `np.savez(path, ids=ids, vectors=vectors)` writes it (read with allow_pickle=False). What an
  embedding job in Python writes.
- `.jsonl` (`.jsonl.gz`, `.ndjson`): one object per line, {"item_id": "...", "vector":
  [floats]}. What an embedding service's batch output looks like.

Every vector has the width of the first, is finite (no NaN or inf) and each id appears once;
otherwise a DataError names the file, the line (the row for .npz) and the field. An id that
is not in the catalog is skipped and counted (`ModalityVectors.dropped`): an image dump
usually still covers products the shop no longer sells, and refusing it would make the shop
filter its own export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError, DropReport, shown
from shelflm.data.loaders.reading import iter_lines

MAX_WIDTH = 65_536  # a wider "vector" is a misread file, not an embedding
NPZ_SUFFIXES = (".npz",)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


@dataclass
class ModalityVectors:
    """Vectors by item id, as read from one file (rows in file order)."""

    source: str
    ids: list[str]
    vectors: np.ndarray  # (n, width) float32, all finite
    dropped: DropReport = field(default_factory=DropReport)

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    def aligned(self, catalog_ids: pd.Index | list[str]) -> np.ndarray:
        """(len(catalog_ids), width) float32: row i is item i's vector, NaN where it has none
        (the item tower reads a NaN row as "missing")."""
        row_of = {item: row for row, item in enumerate(self.ids)}
        out = np.full((len(catalog_ids), self.width), np.nan, np.float32)
        for i, item in enumerate(catalog_ids):
            row = row_of.get(str(item))
            if row is not None:
                out[i] = self.vectors[row]
        return out


def load_modality_vectors(path: str | Path, catalog_ids: pd.Index | list[str] | None = None,
                          width: int = 0) -> ModalityVectors:
    """Read a modality file (see the module doc); `catalog_ids`: keep only those items
    (others counted as dropped); `width` > 0: every vector must have it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "no such file")
    name = path.name.lower()
    if name.endswith(NPZ_SUFFIXES):
        ids, rows = _read_npz(path)
    elif name.endswith(JSONL_SUFFIXES):
        ids, rows = _read_lines(path, _jsonl_row)
    else:
        ids, rows = _read_lines(path, _delimited_row(path))
    vectors = _checked(path, ids, rows, width)
    out = ModalityVectors(str(path), [i for i, _ in ids], vectors)
    if catalog_ids is not None:
        known = set(map(str, catalog_ids))
        keep = np.array([i in known for i in out.ids], dtype=bool)
        out.dropped.add("item id not in the catalog", int((~keep).sum()))
        out.ids = [i for i, k in zip(out.ids, keep, strict=True) if k]
        out.vectors = out.vectors[keep]
    return out


def _checked(path: Path, ids: list[tuple[str, int]], rows: list[np.ndarray],
             width: int) -> np.ndarray:
    """The rows stacked, after checking widths, finiteness and unique ids."""
    if not rows:
        raise DataError(str(path), "no vectors in the file")
    want = width or len(rows[0])
    seen: dict[str, int] = {}
    for (item, line), row in zip(ids, rows, strict=True):
        if len(row) != want:
            raise DataError(str(path), f"vector of item {shown(item)} has {len(row)} values, "
                            f"expected {want} (the width of the "
                            f"{'model' if width else 'first vector'})", line=line, field="vector")
        bad = np.flatnonzero(~np.isfinite(row))
        if len(bad):
            raise DataError(str(path), f"item {shown(item)}: value {row[bad[0]]} is not finite",
                            line=line, field=f"v{bad[0]}")
        if item in seen:
            raise DataError(str(path), f"duplicate item id {shown(item)} (first on line "
                            f"{seen[item]})", line=line, field="item_id")
        seen[item] = line
    if not 0 < want <= MAX_WIDTH:
        raise DataError(str(path), f"width {want} is not in 1..{MAX_WIDTH}", field="vector")
    return np.stack(rows).astype(np.float32)


def _read_lines(path: Path, parse: object) -> tuple[list[tuple[str, int]], list[np.ndarray]]:
    """(item id, line) and vector of every data line of a text file."""
    ids, rows = [], []
    for number, text in iter_lines(path):
        parsed = parse(path, number, text.lstrip("\ufeff") if number == 1 else text)
        if parsed is None:  # a header
            continue
        item, row = parsed
        if not item:
            raise DataError(str(path), "empty item id", line=number, field="item_id")
        ids.append((item, number))
        rows.append(row)
    return ids, rows


def _delimited_row(path: Path) -> object:
    """The line parser of a CSV (",") or TSV (tab) file."""
    name = path.name.lower()
    sep = "\t" if ".tsv" in name or (not name.endswith((".csv", ".csv.gz"))
                                      and "\t" in _first_line(path)) else ","

    def parse(path: Path, number: int, text: str) -> tuple[str, np.ndarray] | None:
        parts = text.rstrip("\r\n").split(sep)
        item = parts[0].strip().strip('"')
        if len(parts) < 2:
            raise DataError(str(path), f"expected item_id{sep}v0{sep}v1..., got one field",
                            line=number, field="vector")
        values = np.empty(len(parts) - 1, np.float64)
        for k, part in enumerate(parts[1:]):
            try:
                values[k] = float(part)
            except ValueError:
                if number == 1 and k == 0:
                    return None  # a header line: item_id,v0,v1,...
                raise DataError(str(path), f"{shown(part)} is not a number", line=number,
                                field=f"v{k}") from None
        return item, values

    return parse


def _first_line(path: Path) -> str:
    for _, text in iter_lines(path):
        return text
    return ""


def _jsonl_row(path: Path, number: int, text: str) -> tuple[str, np.ndarray]:
    """One JSON line {"item_id": ..., "vector": [...]}."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"not JSON: {exc.msg}", line=number) from None
    if not isinstance(obj, dict):
        raise DataError(str(path), "expected a JSON object", line=number)
    item, vector = obj.get("item_id"), obj.get("vector")
    if not isinstance(item, str | int) or isinstance(item, bool):
        raise DataError(str(path), f"item_id {shown(item)} is not a string", line=number,
                        field="item_id")
    if not isinstance(vector, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        raise DataError(str(path), "expected a list of numbers", line=number, field="vector")
    return str(item).strip(), np.asarray(vector, np.float64)


def _read_npz(path: Path) -> tuple[list[tuple[str, int]], list[np.ndarray]]:
    """`ids` and `vectors` of a .npz archive; a row's "line" is its 1-based index."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("ids", "vectors") if k not in archive.files]
            if missing:
                raise DataError(str(path), f"archive has {archive.files}, needs 'ids' and "
                                "'vectors'", field=missing[0])
            ids, vectors = archive["ids"], archive["vectors"]
    except (ValueError, OSError) as exc:  # not an archive, or object arrays (pickle)
        if isinstance(exc, DataError):
            raise
        raise DataError(str(path), f"not a readable .npz archive ({exc})") from None
    if vectors.ndim != 2 or ids.ndim != 1 or len(ids) != len(vectors):
        raise DataError(str(path), f"ids {ids.shape} and vectors {vectors.shape} do not "
                        "align: expected (n,) and (n, d)", field="vectors")
    if not np.issubdtype(vectors.dtype, np.number):
        raise DataError(str(path), f"vectors have dtype {vectors.dtype}", field="vectors")
    keys = [(str(i).strip(), row + 1) for row, i in enumerate(ids.tolist())]
    for item, row in keys:
        if not item:
            raise DataError(str(path), "empty item id", line=row, field="ids")
    return keys, list(vectors.astype(np.float64))
