"""Modality files (item id -> vector): CSV/TSV, .npz and JSON lines read alike; every bad
input is a DataError naming file, line and field; unknown ids are skipped and counted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from shelflm.data.errors import DataError
from shelflm.data.modality_files import load_modality_vectors

IDS = ["a", "b", "c"]
VECTORS = np.array([[0.5, 1.0, -2.0], [3.0, 0.0, 1.5], [1.0, 1.0, 1.0]], np.float32)


def _write(path: Path, ids: list[str], vectors: list[list[object]]) -> Path:
    """One file in the format its suffix names."""
    name = path.name
    if name.endswith(".npz"):
        np.savez(path, ids=np.array(ids), vectors=np.array(vectors, dtype=float))
    elif ".jsonl" in name:
        text = "".join(json.dumps({"item_id": i, "vector": v}) + "\n"
                       for i, v in zip(ids, vectors, strict=True))
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        lines = [sep.join(["item_id", "v0", "v1", "v2"])]
        lines += [sep.join([i, *map(str, v)]) for i, v in zip(ids, vectors, strict=True)]
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", ["img.csv", "img.tsv", "img.npz", "img.jsonl", "img.jsonl.gz"])
def test_every_format_reads_the_same(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, IDS, VECTORS.tolist())
    read = load_modality_vectors(path)
    assert read.ids == IDS and read.width == 3
    np.testing.assert_array_equal(read.vectors, VECTORS)


def test_headerless_csv_and_alignment_with_a_catalog(tmp_path: Path) -> None:
    path = tmp_path / "img.csv"
    path.write_text("a,1,2\nzzz,3,4\nb,5,6\n")
    read = load_modality_vectors(path, catalog_ids=["b", "a", "new"])
    assert read.ids == ["a", "b"] and read.dropped.counts == {"item id not in the catalog": 1}
    aligned = read.aligned(["b", "a", "new"])
    assert aligned[:2].tolist() == [[5, 6], [1, 2]] and np.isnan(aligned[2]).all()


BAD = [
    (["a", "b"], [[1.0, 2.0, 3.0], [1.0, 2.0]], 2, "vector", "has 2 values, expected 3"),
    (["a", "b"], [[1.0, 2.0, 3.0], [1.0, float("nan"), 3.0]], 2, "v1", "not finite"),
    (["a", "b"], [[1.0, 2.0, 3.0], [float("inf"), 2.0, 3.0]], 2, "v0", "not finite"),
    (["a", "a"], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], 2, "item_id", "duplicate item id"),
]


# An .npz array cannot hold rows of two widths: the first case is for the text formats.
@pytest.mark.parametrize(("name", "ids", "vectors", "line", "field", "words"), [
    (name, *case) for name in ("img.csv", "img.npz", "img.jsonl") for case in BAD
    if not (name.endswith(".npz") and case is BAD[0])])
def test_bad_files_name_file_line_and_field(tmp_path: Path, name: str, ids: list[str],
                                            vectors: list[list[float]], line: int, field: str,
                                            words: str) -> None:
    path = _write(tmp_path / name, ids, vectors)
    with pytest.raises(DataError, match=words) as info:
        load_modality_vectors(path)
    # A header line comes first in the CSV: its data lines are one further down.
    assert info.value.line == line + (name.endswith(".csv"))
    assert info.value.field == field and info.value.source == str(path)


def test_a_model_width_and_malformed_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "img.csv", IDS, VECTORS.tolist())
    with pytest.raises(DataError, match="expected 4 .the width of the model"):
        load_modality_vectors(path, width=4)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,1,2\nb,1,x\n")
    with pytest.raises(DataError, match="'x' is not a number") as info:
        load_modality_vectors(bad)
    assert (info.value.line, info.value.field) == (2, "v1")
    lines = tmp_path / "bad.jsonl"
    lines.write_text('{"item_id": "a", "vector": [1, 2]}\n{"item_id": "b", "vector": "1,2"}\n')
    with pytest.raises(DataError, match="list of numbers") as info:
        load_modality_vectors(lines)
    assert (info.value.line, info.value.field) == (2, "vector")
    archive = tmp_path / "bad.npz"
    np.savez(archive, names=np.array(["a"]), vectors=np.ones((1, 2)))
    with pytest.raises(DataError, match="needs 'ids'"):
        load_modality_vectors(archive)
    with pytest.raises(DataError, match="no such file"):
        load_modality_vectors(tmp_path / "missing.csv")
