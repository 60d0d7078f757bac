"""Leaving users' events out of a dataset: risk control's quarantined or flagged users are
kept out of training, updates and refreshes (their events stay stored, never deleted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shelflm.data.errors import DataError
from shelflm.data.schema import Dataset

TRUE = {"true", "1", "yes"}


def read_excluded_users(path: Path) -> set[str]:
    """The user ids of a CSV with a user_id column; with a `flagged` column (the output of
    `shelflm risk score`), only the flagged rows."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(str(path), f"cannot read the excluded users: {exc}") from exc
    if "user_id" not in table.columns:
        raise DataError(str(path), f"missing required column (has {list(table.columns)})",
                        field="user_id")
    if "flagged" in table.columns:
        table = table[table["flagged"].str.strip().str.lower().isin(TRUE)]
    return set(table["user_id"].str.strip())


def without_users(dataset: Dataset, users: set[str]) -> tuple[Dataset, int]:
    """`dataset` without the events of `users`, and how many events were left out."""
    events = dataset.interactions.events
    keep = ~events["user_id"].astype(str).isin(users)
    if keep.all():
        return dataset, 0
    return dataset.with_interactions(events[keep].reset_index(drop=True)), int((~keep).sum())
