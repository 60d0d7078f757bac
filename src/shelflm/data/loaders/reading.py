"""Reading the bytes of input files: gzip, encodings and size limits; every failure a DataError.

Whatever a file holds (random bytes, a cut gzip stream, UTF-16 text, a 10 GB line), the
functions here return text or raise a DataError naming the file and, where known, the line.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from shelflm.data.errors import DataError

MAX_LINE_BYTES = 16 * 2**20
"""Longest line of a line-oriented file (JSON lines, sequences.txt): bounds the memory one
line may take. Real lines (a review, a product's metadata) are far below it."""
HEAD_BYTES = 64 * 1024  # what detection and separator sniffing look at

BROKEN_STREAM = (OSError, EOFError, zlib.error)  # what a cut or corrupt gzip stream raises
_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def open_binary(path: Path) -> IO[bytes]:
    """A plain or gzipped file (gzip recognised by its magic bytes, not its name)."""
    try:
        gz = _is_gzip(path)
        return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - caller closes
    except FileNotFoundError as exc:
        raise DataError(path, "file not found") from exc
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes a reader sees (gunzipped); b"" when the file cannot be read at all."""
    try:
        with open_binary(path) as fh:
            return fh.read(size)
    except (DataError, *BROKEN_STREAM):
        return b""


def first_line(path: Path) -> str:
    """The first line, leniently decoded (for format detection; never raises)."""
    return head(path).split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff")


def check_text(path: Path, data: bytes) -> None:
    """Raise for bytes that are UTF-16 or binary (NUL bytes) rather than 8-bit text."""
    if data.startswith(_UTF16_BOMS) or b"\x00" in data:
        nul = data.find(b"\x00") + 1
        at = ("a UTF-16 byte-order mark" if data.startswith(_UTF16_BOMS)
              else f"a NUL byte at byte {nul}")
        raise DataError(path, f"not UTF-8 text ({at}: UTF-16 or binary data); save it as UTF-8")


def decode(raw: bytes, path: Path, line: int, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """One line's text in the first of `encodings` that decodes it."""
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    raise DataError(path, f"not {encodings[0].upper()} text: byte 0x{raw[error.start]:02x} at "
                    f"column {error.start + 1} ({error.reason})", line=line) from error


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) for each non-blank line of a plain or gzipped UTF-8 file."""
    number = 0
    with open_binary(path) as fh:
        try:
            while raw := fh.readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise DataError(path, f"line longer than {MAX_LINE_BYTES:,} bytes "
                                    "(MAX_LINE_BYTES)", line=number)
                if number == 1:
                    check_text(path, raw)
                    raw = raw.removeprefix(_UTF8_BOM)
                text = decode(raw, path, number)
                if text.strip():
                    yield number, text
        except BROKEN_STREAM as exc:
            raise DataError(path, f"broken gzip data after line {number}: {exc}") from exc


def sniff_separator(path: Path, candidates: str = ",\t;|") -> str:
    """The delimiter of a CSV-like file, from its header line ("," when it shows none)."""
    header = first_line(path)
    counts = {sep: header.count(sep) for sep in candidates}
    best = max(counts, key=lambda sep: counts[sep])
    if counts[best] == 0:
        try:
            found = csv.Sniffer().sniff(header).delimiter
        except csv.Error:
            return ","
        # The sniffer guesses from one line; a letter, quote or line end is never a separator.
        return found if found.isprintable() and not found.isalnum() and found not in "\"'" \
            else ","
    return best


def read_csv(source: Path | IO[str], path: Path, encodings: tuple[str, ...], **options: object
             ) -> pd.DataFrame:
    """pandas.read_csv in the first of `encodings` that decodes the file; errors as DataErrors.

    `path` names the file in errors (`source` may be an in-memory buffer read from it).
    """
    if isinstance(source, Path):
        check_text(path, head(path))
        # Gzip by its magic bytes, as everywhere here (pandas would go by the file name).
        options["compression"] = "gzip" if _is_gzip(source) else None
    for encoding in encodings:
        try:
            return pd.read_csv(source, encoding=encoding, **options)  # type: ignore[call-overload]
        except UnicodeDecodeError:
            if encoding == encodings[-1]:
                _raise_first_undecodable(path, encoding)
        except FileNotFoundError as exc:
            raise DataError(path, "file not found") from exc
        except BROKEN_STREAM as exc:
            raise DataError(path, f"unreadable (broken compressed data?): {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _raise_first_undecodable(path: Path, encoding: str) -> None:
    """Raise naming the first line that is not `encoding` text (only on the error path)."""
    number = 0
    with open_binary(path) as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                decode(raw, path, number, (encoding,))
        except BROKEN_STREAM as exc:
            raise DataError(path, f"broken gzip data after line {number}: {exc}") from exc
    raise DataError(path, f"not {encoding.upper()} text")
