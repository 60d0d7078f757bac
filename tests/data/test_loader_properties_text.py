"""Property tests of every loader on text in other encodings and on huge fields and lines.

Other encodings (a BOM, UTF-16, latin-1, cp1252) load exactly like the canonical file or
fail with a DataError that says which encoding was expected; a catalog text field over
MAX_TEXT_CHARS fails naming the limit, the file, the line and the field; a huge line of
junk fails with a short message or loads with every row accounted for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_cases import CASES, TEXT_FILES, Case, load, outcome

from shelflm.data.errors import DataError
from shelflm.data.loaders.reading import MAX_LINE_BYTES
from shelflm.data.schema import MAX_TEXT_CHARS, Dataset

SETTINGS = {"deadline": None, "derandomize": True, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
TEXT_IDS = [f"{case.name}:{name}" for case, name in TEXT_FILES]
CATALOG_CASES = [case for case in CASES if case.catalog]
# Titles of letters from the latin-1 range: every encoding under test can write them.
TITLES = st.text(st.characters(max_codepoint=0xFF, categories=("Lu", "Ll")), min_size=1,
                 max_size=12)
MiB = 2**20


def with_title(case: Case, name: str, title: str) -> str:
    """The file's canonical text with its catalog title (if it has one) replaced."""
    text = case.texts[name]
    return text.replace(case.catalog[name], title) if name in case.catalog else text


def same_dataset(a: Dataset, b: Dataset) -> None:
    pd.testing.assert_frame_equal(a.catalog.items, b.catalog.items)
    pd.testing.assert_frame_equal(a.interactions.events, b.interactions.events)
    assert (a.name, a.has_time, a.source, a.dropped.counts) == (
        b.name, b.has_time, b.source, b.dropped.counts)


@pytest.mark.parametrize(("case", "name"), TEXT_FILES, ids=TEXT_IDS)
@settings(max_examples=15, **SETTINGS)
@given(title=TITLES, encoding=st.sampled_from(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252"]))
def test_other_encodings_load_the_same_or_say_which_was_expected(
        case: Case, name: str, title: str, encoding: str) -> None:
    text = with_title(case, name, title)
    with tempfile.TemporaryDirectory() as tmp:  # same folder names: datasets are named by them
        canonical = text.encode(case.encodings.get(name, "utf-8"))
        expected = outcome(case, Path(tmp) / "canonical" / "shop", {name: canonical})
        assert isinstance(expected, Dataset), expected
        got = outcome(case, Path(tmp) / "other" / "shop", {name: text.encode(encoding)})
    if isinstance(got, Dataset):
        same_dataset(got, expected)
        return
    assert Path(got.source).name == name, got
    assert encoding in ("utf-16", "utf-16-le", "latin-1", "cp1252"), got  # a BOM always loads
    assert "not UTF-8 text" in got.reason, got
    if encoding.startswith("utf-16"):
        assert "UTF-16" in got.reason, got
    else:  # a text file in a legacy 8-bit encoding: the line with the first foreign byte
        assert got.line is not None, got


@pytest.mark.parametrize("case", CATALOG_CASES, ids=[case.name for case in CATALOG_CASES])
@settings(max_examples=2, **SETTINGS)
@given(size=st.integers(MAX_TEXT_CHARS + 1, 10 * MiB))
def test_huge_catalog_field_is_refused_naming_the_limit(case: Case, size: int) -> None:
    name = next(iter(case.catalog))
    data = with_title(case, name, "x" * size).encode(case.encodings.get(name, "utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        got = outcome(case, Path(tmp), {name: data})
    assert isinstance(got, DataError)
    assert "MAX_TEXT_CHARS" in got.reason and f"{size:,} characters" in got.reason, got
    assert (Path(got.source).name, got.field) == (name, "title"), got
    assert got.line is not None and got.line <= 2, got


@pytest.mark.parametrize("case", CATALOG_CASES, ids=[case.name for case in CATALOG_CASES])
def test_catalog_field_at_the_limit_loads(case: Case, tmp_path: Path) -> None:
    name = next(iter(case.catalog))
    title = "x" * MAX_TEXT_CHARS
    data = with_title(case, name, title).encode(case.encodings.get(name, "utf-8"))
    got = outcome(case, tmp_path, {name: data}, exact=True)
    assert isinstance(got, Dataset), got
    assert got.catalog.items["title"].str.len().max() == MAX_TEXT_CHARS


@pytest.mark.parametrize(("case", "name"), TEXT_FILES, ids=TEXT_IDS)
@settings(max_examples=2, **SETTINGS)
@given(size=st.integers(MiB, 10 * MiB), junk=st.sampled_from(list("x[{\"',\t|:0 ")))
def test_huge_line_fails_briefly_or_loads_every_row(case: Case, name: str, size: int,
                                                   junk: str) -> None:
    data = case.raw(name) + junk.encode() * size + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        outcome(case, Path(tmp), {name: data}, exact=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.events.endswith((".json", ".txt"))],
                         ids=lambda c: c.name)
def test_line_over_the_line_limit_is_refused(case: Case, tmp_path: Path) -> None:
    data = case.raw(case.events) + b"x" * (MAX_LINE_BYTES + 1) + b"\n"
    case.write(tmp_path, {case.events: data})
    with pytest.raises(DataError, match="MAX_LINE_BYTES") as caught:
        load(case, tmp_path)
    assert caught.value.line == case.raw(case.events).count(b"\n") + 1
