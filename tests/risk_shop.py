"""Test fixture for risk control: shoppers who behave like people (a few events a session,
minutes apart, daytime, popular items of one category) and the bots tests add to them."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY = 86_400
START = 1_700_000_000 - 1_700_000_000 % DAY  # a midnight (UTC)


def shoppers(catalog_ids: list[str], num_users: int = 60, seed: int = 0) -> pd.DataFrame:
    """Events (user_id, item_id, timestamp, event, value) of `num_users` human-like shoppers:
    2-4 sessions on different days between 9:00 and 21:00, 3-6 events each, 1-10 minutes
    apart, items drawn with a popularity skew."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(catalog_ids) + 1)
    weights /= weights.sum()
    rows = []
    for u in range(num_users):
        for day in rng.choice(30, int(rng.integers(2, 5)), replace=False):
            t = START + int(day) * DAY + int(rng.integers(9 * 3600, 21 * 3600))
            for _ in range(int(rng.integers(3, 7))):
                item = catalog_ids[int(rng.choice(len(catalog_ids), p=weights))]
                rows.append((f"u{u}", item, t, "view", 1.0))
                t += int(rng.integers(60, 600))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "value"])


def burst_bot(user: str, catalog_ids: list[str], events: int = 80,
              start: int = START + 3 * 3600) -> pd.DataFrame:
    """A bot: `events` views of the catalog in order, under a second apart, at 3 a.m."""
    rows = [(user, catalog_ids[i % len(catalog_ids)], start + i // 2, "view", 1.0)
            for i in range(events)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "value"])
