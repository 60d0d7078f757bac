"""Validation helpers shared by the serving configs (torch-free)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

# Unknown keys in a config file are errors, not silently ignored.
_STRICT = ConfigDict(extra="forbid")


def _in_range(config: Any, name: str, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> None:
    """Raise ValueError naming `name` unless low <= value <= high (low < value if low_open)."""
    value = getattr(config, name)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        bounds = [f"> {low}" if low_open else f">= {low}"] if low is not None else []
        bounds += [f"<= {high}"] if high is not None else []
        raise ValueError(f"{name}: must be {' and '.join(bounds)}, got {value!r}")


def _one_of(config: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming `name` unless its value is one of `choices`."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name}: {value!r} is not one of {choices}")
