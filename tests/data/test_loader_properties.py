"""Property tests of every loader on damaged files: random bytes, flipped bytes, truncation.

Whatever the bytes, a load ends in a Dataset or a DataError, never another exception; a
DataError names one of the files, a line inside it, and stays short; a Dataset accounts
for every source row (kept + dropped on purpose == source rows). Builders: loader_cases.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_cases import CASES, FILES, Case, outcome

from shelflm.data.errors import DataError

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
FILE_IDS = [f"{case.name}:{name}" for case, name in FILES]


@st.composite
def flipped(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to four bytes replaced by random ones."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.parametrize(("case", "name"), FILES, ids=FILE_IDS)
@PROPERTY
@given(data=st.binary(max_size=400))
def test_random_bytes_give_a_dataset_or_a_data_error(case: Case, name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outcome(case, Path(tmp), {name: data})


@pytest.mark.parametrize(("case", "name"), FILES, ids=FILE_IDS)
@PROPERTY
@given(data=st.data())
def test_flipped_bytes_give_a_dataset_or_a_data_error(case: Case, name: str,
                                                      data: st.DataObject) -> None:
    damaged = data.draw(flipped(case.raw(name)))
    with tempfile.TemporaryDirectory() as tmp:
        outcome(case, Path(tmp), {name: damaged})


@pytest.mark.parametrize(("case", "name"), FILES, ids=FILE_IDS)
@PROPERTY
@given(data=st.data())
def test_truncated_file_loses_no_row_silently(case: Case, name: str,
                                              data: st.DataObject) -> None:
    """A cut file fails, or every row left in it is kept or counted as dropped."""
    raw = case.raw(name)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        outcome(case, Path(tmp), {name: raw[:cut]}, exact=True)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_valid_files_load_and_count_every_row(case: Case, tmp_path: Path) -> None:
    """The builders themselves are valid: the baseline every property starts from."""
    ds = outcome(case, tmp_path, {}, exact=True)
    assert not isinstance(ds, DataError), ds
    assert len(ds.interactions) > 0 and ds.num_items > 0
