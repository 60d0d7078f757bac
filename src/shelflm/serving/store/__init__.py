"""Event storage behind an interface: every event kept, plus each user's recent sequence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

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


@dataclass
class ItemChange:
    """One logged catalog change: an upsert (row + its vectors under `model_version`) or a
    delete. Every worker replays the log, so an item added through one is seen by all."""

    item_id: str
    deleted: bool = False
    row: dict = field(default_factory=dict)  # ITEM_COLUMNS values (upserts only)
    model_version: str = ""  # the model that made the vectors; another one re-encodes `row`
    vector: np.ndarray | None = None  # retrieval space (also the user tower's input)
    text: np.ndarray | None = None  # text space
    version: int = 0  # position in the log, set by the store


@dataclass(frozen=True)
class RiskChange:
    """One logged change of a user's risk state: "quarantined" (their events stop counting
    for other shoppers and for training) or "released" (they count again, and the user is
    not quarantined automatically any more). Every worker replays the log."""

    user_id: str
    state: str  # "quarantined" | "released"
    score: float | None = None
    reasons: str = ""  # JSON of the reasons at the time
    version: int = 0  # position in the log, set by the store

    def __post_init__(self) -> None:
        if self.state not in RISK_STATES:
            raise ValueError(f"state: {self.state!r} is not one of {RISK_STATES}")


RISK_STATES = ("quarantined", "released")


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

    def popularity_snapshot(self) -> tuple[int, dict[str, int]]:
        """(event mark, events per item up to that mark), read consistently."""

    def recent_users(self, limit: int) -> list[str]:
        """Up to `limit` users with a recent sequence, the most recently active first."""

    def changed(self) -> bool:
        """Cheap: may anything have been written (by any process) since the last call?"""

    def events_since(self, mark: int) -> tuple[int, list[tuple[str, str]]]:
        """(new mark, (user_id, item_id) of every event stored after `mark`, in order)."""

    def export_events(self, mark: int, limit: int) -> tuple[int, list[Event]]:
        """(new mark, up to `limit` whole events stored after `mark`, in order): what a
        nearline job (shelflm refresh) trains on; marks are those of events_since."""

    def log_items(self, changes: Sequence[ItemChange]) -> int:
        """Append catalog changes durably, in order; returns the version of the last one
        (the changes hold versions last - len + 1 .. last)."""

    def item_changes_since(self, version: int) -> list[ItemChange]:
        """Catalog changes logged after `version`, oldest first (with their versions)."""

    def user_events(self, user_id: str, limit: int) -> list[Event]:
        """The user's last `limit` events over the whole log, oldest first (uncompressed)."""

    def user_item_counts(self, user_id: str, mark: int) -> dict[str, int]:
        """Events per item of one user, over the events up to `mark` (events_since's)."""

    def item_events(self, item_id: str, limit: int, window: int) -> list[Event]:
        """The item's last `limit` events among the newest `window` stored, newest first (a
        bounded look for the dashboard: no index on items slows the writes)."""

    def user_count(self) -> int:
        """Number of users with stored events."""

    def log_risk(self, changes: Sequence[RiskChange]) -> int:
        """Append risk changes durably, in order; returns the version of the last one."""

    def risk_changes_since(self, version: int) -> list[RiskChange]:
        """Risk changes logged after `version`, oldest first (with their versions)."""

    def log_reload(self, artifact_dir: str) -> int:
        """Record durably that the workers should serve `artifact_dir`; returns the reload's
        generation (increasing from 1)."""

    def latest_reload(self) -> tuple[int, str]:
        """(generation, artifact dir) of the newest recorded reload; (0, "") when none."""

    def close(self) -> None:
        """Release files and connections."""


def make_store(config: StoreConfig) -> EventStore:
    """The store `config` asks for."""
    if config.backend == "memory":
        # The backend chosen at run time, imported only then (each backend imports this
        # module's Event and ItemChange, so a module-level import here would be a cycle).
        from shelflm.serving.store.memory_store import MemoryEventStore

        return MemoryEventStore(config.recent_length)
    # The SQLite backend, chosen at run time (as above).
    from shelflm.serving.store.sqlite_store import SqliteEventStore

    return SqliteEventStore(config.sqlite_path(), config.recent_length)
