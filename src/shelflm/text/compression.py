"""Shortening a shopper's behaviour history before it reaches a model.

Histories are long and repetitive (the same product viewed five times in a row). The
compressor keeps what carries signal: strong events, one position per run of repeats,
the most recent N positions; and reports how much shorter the input became.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelflm.data.schema import EVENT_TYPES

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0, "click": 1.5, "add_to_cart": 2.5, "purchase": 4.0, "rating": 3.0,
}


class SequenceCompressorConfig(BaseModel):
    """How a history is compressed (defaults suit a session-based shop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep_last: int | None = Field(50, gt=0, description="Keep the most recent N positions "
                                  "after filtering and collapsing; None keeps all.")
    collapse_repeats: bool = Field(True, description="Merge consecutive events on the same "
                                   "item into one position (its strongest event and weight).")
    min_event: str | None = Field(None, description="Drop events weaker than this type "
                                  "(EVENT_TYPES order, weakest first); None keeps all.")
    event_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
        description="Weight per event type: a purchase says more than a view.",
    )

    @field_validator("min_event")
    @classmethod
    def _known_event(cls, value: str | None) -> str | None:
        if value is not None and value not in EVENT_TYPES:
            raise ValueError(f"min_event {value!r} is not one of {EVENT_TYPES}")
        return value

    @field_validator("event_weights")
    @classmethod
    def _all_weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"event_weights: unknown event types {sorted(unknown)}")
        missing = set(EVENT_TYPES) - set(value)
        if missing:
            raise ValueError(f"event_weights: no weight for {sorted(missing)}")
        if any(w < 0 for w in value.values()):
            raise ValueError("event_weights must be >= 0")
        return value


@dataclass
class CompressionReport:
    """Positions (and text tokens, where item token counts were given) before and after."""

    positions_before: int = 0
    positions_after: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    sequences: int = 0

    def __add__(self, other: CompressionReport) -> CompressionReport:
        return CompressionReport(
            self.positions_before + other.positions_before,
            self.positions_after + other.positions_after,
            self.tokens_before + other.tokens_before,
            self.tokens_after + other.tokens_after,
            self.sequences + other.sequences,
        )

    @property
    def position_saving(self) -> float:
        """Fraction of positions removed (0.25 = a quarter shorter)."""
        return 1 - self.positions_after / self.positions_before if self.positions_before else 0.0

    @property
    def token_saving(self) -> float:
        """Fraction of text tokens removed (0 when no token counts were given)."""
        return 1 - self.tokens_after / self.tokens_before if self.tokens_before else 0.0

    def summary(self) -> str:
        """One human-readable line."""
        line = (f"{self.sequences:,} sequences: {self.positions_before:,} -> "
                f"{self.positions_after:,} positions ({self.position_saving:.1%} saved)")
        if self.tokens_before:
            line += (f"; {self.tokens_before:,} -> {self.tokens_after:,} tokens "
                     f"({self.token_saving:.1%} saved)")
        return line


@dataclass
class CompressedSequence:
    """A compressed history, time order kept: item ids/indices, event indices, weights."""

    items: np.ndarray
    events: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray
    report: CompressionReport = field(default_factory=CompressionReport)


class SequenceCompressor:
    """Maps a user's (items, events, timestamps) to a shorter weighted sequence."""

    def __init__(self, config: SequenceCompressorConfig | None = None) -> None:
        self.config = config or SequenceCompressorConfig()
        self._weights = np.array([self.config.event_weights[e] for e in EVENT_TYPES],
                                 dtype=np.float32)

    def compress(self, items: Sequence | np.ndarray, events: Sequence | np.ndarray,
                 timestamps: Sequence | np.ndarray | None = None,
                 item_tokens: np.ndarray | None = None) -> CompressedSequence:
        """Compress one history; `item_tokens[i]` (optional) is item i's text length in tokens."""
        items = np.asarray(items)
        ev = event_indices(events)
        ts = np.arange(len(items)) if timestamps is None else np.asarray(timestamps)
        if not len(items) == len(ev) == len(ts):
            raise ValueError(f"history arrays differ in length: items {len(items)}, "
                             f"events {len(ev)}, timestamps {len(ts)}")
        order = np.argsort(ts, kind="stable")  # tolerate unsorted input, keep tie order
        items, ev, ts = items[order], ev[order], ts[order]
        before = len(items)
        tokens_before = _tokens(items, item_tokens)

        cfg = self.config
        if cfg.min_event is not None:
            keep = ev >= EVENT_TYPES.index(cfg.min_event)
            items, ev, ts = items[keep], ev[keep], ts[keep]
        weights = self._weights[ev]
        if cfg.collapse_repeats and len(items):
            starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
            # A run keeps its strongest event and weight, and the time of its last event.
            ev = np.maximum.reduceat(ev, starts)
            weights = np.maximum.reduceat(weights, starts)
            ends = np.r_[starts[1:], len(items)] - 1
            items, ts = items[starts], ts[ends]
        if cfg.keep_last is not None:
            items, ev, weights, ts = (a[-cfg.keep_last:] for a in (items, ev, weights, ts))

        report = CompressionReport(before, len(items), tokens_before,
                                   _tokens(items, item_tokens), 1)
        return CompressedSequence(items, ev, weights, ts, report)

    def compress_many(self, histories: Sequence[tuple], item_tokens: np.ndarray | None = None
                      ) -> tuple[list[CompressedSequence], CompressionReport]:
        """Compress (items, events, timestamps) tuples; returns them and the summed report."""
        out = [self.compress(*h, item_tokens=item_tokens) for h in histories]
        total = sum((c.report for c in out), CompressionReport())
        return out, total


def event_indices(events: Sequence | np.ndarray) -> np.ndarray:
    """Event type names or indices as int64 indices into EVENT_TYPES (clear error if unknown)."""
    arr = np.asarray(events)
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= len(EVENT_TYPES))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"event index {int(arr[pos])} at position {pos} is out of "
                             f"range 0..{len(EVENT_TYPES) - 1}")
        return arr.astype(np.int64)
    lookup = {name: i for i, name in enumerate(EVENT_TYPES)}
    out = np.empty(len(arr), dtype=np.int64)
    for pos, name in enumerate(arr.tolist()):
        if name not in lookup:
            raise ValueError(f"unknown event type {name!r} at position {pos}; "
                             f"expected one of {EVENT_TYPES}")
        out[pos] = lookup[name]
    return out


def _tokens(items: np.ndarray, item_tokens: np.ndarray | None) -> int:
    if item_tokens is None or not len(items):
        return 0
    if items.dtype.kind not in "iu":
        raise ValueError("item_tokens needs integer item indices, not ids")
    return int(np.asarray(item_tokens)[items].sum())
