"""What the dashboard shows of the engine (`Engine.insight`): the serving counts, one item as
the model sees it (its fields, the text the language model reads, its recent events) and one
shopper's timeline. Read-only and framework-free; the HTTP side is serving/http/dashboard."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import pandas as pd

from shelflm.models.modality_inputs import attribute_dicts
from shelflm.serving.errors import RequestError
from shelflm.serving.state import ServingState
from shelflm.serving.store import EventStore

ITEM_EVENT_WINDOW = 100_000  # an item page looks for its events among the newest this many
_SHOWN = ("item_id", "title", "category", "brand", "price")


class InsightDesk:
    """Reads under the engine's lock, store look-ups outside it."""

    def __init__(self, store: EventStore, lock: threading.RLock,
                 sync: Callable[[], ServingState]) -> None:
        self.store, self._lock, self._sync = store, lock, sync

    def counts(self) -> dict:
        """Catalog size, users, stored events (this worker's view, caught up now), index."""
        with self._lock:
            st = self._sync()
            counts = {"items": len(st.items), "events": int(st.event_mark),
                      "index": {"kind": type(st.index).__name__, "size": len(st.index)},
                      "artifact_dir": str(st.artifact_dir or "")}
        return {**counts, "users": self.store.user_count()}

    def item(self, item_id: str, events: int = 50) -> dict:
        """One live item: its fields, the text its vector was made from, recent events."""
        with self._lock:
            st = self._sync()
            items = st.items
            slot = items.slot_of.get(item_id)
            if slot is None or not items.alive[slot]:
                raise RequestError.unknown_id("item_id", item_id, "not_found")
            row = {"item_id": item_id, "title": items.titles[slot],
                   "category": items.categories[slot], "brand": items.brands[slot] or None,
                   "price": _number(items.price[slot]), "in_stock": bool(items.in_stock[slot]),
                   "popularity": int(items.popularity[slot])}
            snapshot = _catalog_row(st, item_id)
            text = _item_text(st, {**snapshot, **{k: row[k] for k in _SHOWN}})
        recent = self.store.item_events(item_id, events, ITEM_EVENT_WINDOW)
        fields = {k: _field(v) for k, v in snapshot.items()
                  if k not in _SHOWN and _present(v)}
        return {**row, "text": text, "fields": fields,
                "events": [{"user_id": e.user_id, "event": e.event, "timestamp": e.timestamp,
                            "value": e.value} for e in recent]}

    def user(self, user_id: str, events: int = 50) -> dict:
        """A shopper's last `events` events, oldest first, with each item's title."""
        timeline = self.store.user_events(user_id, events)
        with self._lock:
            items = self._sync().items
            titles = [_title(items, e.item_id) for e in timeline]
        return {"user_id": user_id, "known": bool(timeline), "ab_bucket": None,
                "events": [{"item_id": e.item_id, "title": t, "event": e.event,
                            "timestamp": e.timestamp, "value": e.value}
                           for e, t in zip(timeline, titles, strict=True)]}


def _title(items, item_id: str) -> str | None:
    slot = items.slot_of.get(item_id)
    return None if slot is None else items.titles[slot]


def _catalog_row(st: ServingState, item_id: str) -> dict:
    """The item's row in the artifact's catalog snapshot ({} for an item added later), its
    attributes as a dict when they are a JSON object."""
    frame = st.model.catalog.items
    hit = np.flatnonzero(frame["item_id"].to_numpy() == item_id)
    if not len(hit):
        return {}
    row = frame.iloc[int(hit[0])].to_dict()
    parsed = attribute_dicts(frame.iloc[hit[:1]])
    if parsed and parsed[0]:
        row["attributes"] = parsed[0]
    return row


def _item_text(st: ServingState, row: dict) -> str | None:
    """The item's text as the artifact's template renders it (None: the model has none)."""
    settings = getattr(st.model, "text", None)
    item_format = getattr(settings, "item_format", None)
    if not item_format:
        return None
    # Deferred: the template module loads the tokenizer library, which only this page needs.
    from shelflm.text.templates import ItemTemplate

    try:
        return ItemTemplate(format=item_format).render({k: v for k, v in row.items()
                                                        if _present(v)})
    except (ValueError, KeyError):
        return None  # a preset name or an old layout: the text is not shown


def _present(value: object) -> bool:
    """Not empty: None, NA, NaN and "" are not shown."""
    if isinstance(value, dict):
        return bool(value)
    if value is None or value is pd.NA or value == "":
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _field(value: object) -> object:
    """A catalog value as plain JSON."""
    return value.item() if isinstance(value, np.generic) else value
