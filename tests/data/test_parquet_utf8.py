"""A Parquet file whose string column holds invalid UTF-8 is a DataError naming the file,
whether it is read as a table or as the project format (pyarrow lets such bytes through
until a string operation, so the file is checked whole when it is read)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shelflm.data.errors import DataError
from shelflm.data.loaders import load_dataset
from shelflm.data.project_format import read_parquet


def _broken(path: Path) -> Path:
    pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"],
                  "timestamp": [1, 2]}).to_parquet(path)
    raw = bytearray(path.read_bytes())
    raw[raw.find(b"x")] = 0xFF  # an item id that is no longer UTF-8
    path.write_bytes(bytes(raw))
    return path


def test_invalid_utf8_in_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = _broken(tmp_path / "shop.parquet")
    with pytest.raises(DataError, match="shop.parquet.*UTF8"):
        load_dataset(path, format="table")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_parquet(path)
