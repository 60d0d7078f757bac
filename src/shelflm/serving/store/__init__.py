"""Event storage behind an interface: every event kept, plus each user's recent sequence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shelflm.data.schema import EVENT_TYPES
from shelflm.serving.config import StoreConfig


@dataclass(frozen=True, slots=True)
class Event:
    """One shopper action; `event` is one of shelflm.data.schema.EVENT_TYPES."""

    user_id: str
    item_id: str
    event: str
    timestamp: int
    value: float = 1.0

    def __post_init__(self) -> None:
        if self.event not in EVENT_TYPES:
            raise ValueError(f"event: unknown type {self.event!r} (expected one of {EVENT_TYPES})")


def compress_recent(sequence: list[Event], new: Iterable[Event], length: int) -> list[Event]:
    """Append `new` to a recent sequence, folding an immediate repeat of the same item and
    event into one (a shopper reloading a page says nothing new), keeping the last `length`."""
    out = list(sequence)
    for ev in new:
        if out and out[-1].item_id == ev.item_id and out[-1].event == ev.event:
            out[-1] = ev
        else:
            out.append(ev)
    return out[-length:]


@runtime_checkable
class EventStore(Protocol):
    """Durable event log with per-user recent sequences."""

    def append(self, events: Sequence[Event]) -> None:
        """Store a batch atomically; it is durable when this returns."""

    def recent(self, user_id: str, n: int | None = None) -> list[Event]:
        """The user's recent compressed sequence, oldest first (at most `n`, newest kept)."""

    def items_with_events(self, user_id: str, events: Sequence[str]) -> set[str]:
        """Item ids the user ever had one of `events` with (e.g. purchases), whole history."""

    def count(self) -> int:
        """Number of stored events."""

    def item_counts(self) -> dict[str, int]:
        """Events per item id over the whole log (for popularity)."""

    def close(self) -> None:
        """Release files and connections."""


def make_store(config: StoreConfig) -> EventStore:
    """The store `config` asks for."""
    if config.backend == "memory":
        from shelflm.serving.store.memory_store import MemoryEventStore

        return MemoryEventStore(config.recent_length)
    from shelflm.serving.store.sqlite_store import SqliteEventStore

    return SqliteEventStore(config.path, config.recent_length)
