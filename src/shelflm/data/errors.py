"""Errors that name what is wrong and where, and the count of rows dropped on purpose."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class DataError(ValueError):
    """Bad input data: names the source file, the line (1-based, where there is one), the field."""

    def __init__(self, source: str, message: str, *, line: int | None = None,
                 field: str | None = None) -> None:
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
