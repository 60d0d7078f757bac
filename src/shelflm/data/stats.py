"""Summary statistics of a Dataset, as plain data (`shelflm data stats` prints them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from shelflm.data.schema import Dataset


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def dataset_stats(dataset: Dataset) -> dict[str, Any]:
    """Counts, density, per-user sequence lengths, time span, event types, drops, source counts."""
    events = dataset.interactions.events
    users, items = dataset.num_users, dataset.num_items
    lengths = events.groupby("user_id", sort=False).size().to_numpy()
    seq = ({"min": int(lengths.min()), "median": float(np.median(lengths)),
            "mean": float(lengths.mean()), "p90": float(np.percentile(lengths, 90)),
            "max": int(lengths.max())} if len(lengths) else None)
    span = None
    if dataset.has_time and len(events):
        first, last = int(events["timestamp"].min()), int(events["timestamp"].max())
        span = {"first": _iso(first), "last": _iso(last), "days": (last - first) / 86400}
    source = dataset.source
    pairs = len(events[["user_id", "item_id"]].drop_duplicates())
    return {
        "name": dataset.name,
        "users": users,
        "items": items,
        "items_with_interactions": int(events["item_id"].nunique()),
        "interactions": len(events),
        # Distinct pairs, not events: repeated views would push "density" past 100%.
        "density": pairs / (users * items) if users and items else 0.0,
        "sequence_length": seq,
        "has_time": dataset.has_time,
        "time_span": span,
        "event_counts": {str(k): int(v) for k, v in
                         events["event"].value_counts(sort=False).items() if v},
        "dropped": dict(sorted(dataset.dropped.counts.items())),
        "source": None if source is None else {
            "rows": source.rows, "users": source.users, "items": source.items,
            **source.extra,
        },
    }
