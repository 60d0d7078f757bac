"""Errors that name what is wrong and where, and the count of rows dropped on purpose."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_SHOWN_CHARS = 60  # a bad value quoted in a message is cut to this many characters
MAX_REASON_CHARS = 500  # and the whole reason to this many: a huge input never floods a log


def shown(value: object) -> str:
    """`repr(value)`, cut to MAX_SHOWN_CHARS so a message quoting a huge value stays short."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[:MAX_SHOWN_CHARS - 5]}...{text[-2:]}"


class DataError(ValueError):
    """Bad input data: names the source file, the line (1-based, where there is one), the field."""

    def __init__(self, source: str, message: str, *, line: int | None = None,
                 field: str | None = None) -> None:
        if len(message) > MAX_REASON_CHARS:
            message = message[:MAX_REASON_CHARS - 3] + "..."
        field = None if field is None else str(field)
        if field is not None and len(field) > MAX_SHOWN_CHARS:
            field = field[:MAX_SHOWN_CHARS - 3] + "..."
        self.source, self.line, self.field, self.reason = str(source), line, field, message
        where = self.source + (f", line {line}" if line is not None else "")
        what = f"field {field!r}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


@dataclass
class DropReport:
    """Rows dropped on purpose (duplicates, cancellations, ...), counted by reason."""

    counts: Counter = field(default_factory=Counter)

    def add(self, reason: str, n: int) -> None:
        """Record `n` rows dropped for `reason` (zero counts are kept out of the report)."""
        if n:
            self.counts[reason] += int(n)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """Human-readable lines, one per reason."""
        return [f"dropped {n:,} rows: {reason}" for reason, n in sorted(self.counts.items())]
