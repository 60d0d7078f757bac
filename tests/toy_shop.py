"""Test fixture: a tiny patterned shop with learnable sequences and informative text.

Items fall into groups; a shopper walks through one group in order (item k -> k + 1), with
some random jumps. Popularity cannot predict the next item, a sequence model can, and each
item's "text vector" is its group's direction plus noise, so text alone carries the group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog, Dataset, Interactions
from shelflm.data.splits import LeaveOneOutSplit, Split


def toy_shop(
    num_users: int = 200, num_groups: int = 4, group_size: int = 10, length: int = 8,
    jump: float = 0.1, seed: int = 0,
) -> tuple[Dataset, np.ndarray]:
    """(Dataset, text vectors (num_items, 16)) of the patterned shop."""
    rng = np.random.default_rng(seed)
    num_items = num_groups * group_size
    rows = []
    for u in range(num_users):
        g, k = int(rng.integers(num_groups)), int(rng.integers(group_size))
        for t in range(length):
            item = g * group_size + k
            rows.append((f"u{u}", f"i{item}", t))
            k = int(rng.integers(group_size)) if rng.random() < jump else (k + 1) % group_size
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(num_items)],
                          "title": [f"item {i} of group {i // group_size}"
                                    for i in range(num_items)]})
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    dataset = Dataset("toy", Catalog.from_frame(items), Interactions.from_frame(events))
    directions = rng.normal(size=(num_groups, 16))
    text = directions[np.arange(num_items) // group_size] + 0.3 * rng.normal(size=(num_items, 16))
    # Position within the group is in the text too, as a product's title would say.
    text[:, :2] += np.stack([np.cos(np.arange(num_items) % group_size),
                             np.sin(np.arange(num_items) % group_size)], axis=1)
    return dataset, text.astype(np.float32)


def toy_leave_one_out(dataset: Dataset, cold_items: np.ndarray | None = None) -> Split:
    """LeaveOneOutSplit (last event = test, second to last = valid), with `cold_items` (item
    indices) also held out of train entirely and their targets marked cold."""
    split = LeaveOneOutSplit().split(dataset)
    if cold_items is None:
        return split
    cold = np.unique(np.asarray(cold_items, dtype=np.int64))
    events = split.train.interactions.events
    train = split.train.with_interactions(
        events[~events["item_id"].isin(dataset.item_ids[cold])].reset_index(drop=True))
    for cases in (split.valid, split.test):
        cases.target_is_cold = cases.target_is_cold | np.isin(cases.targets, cold)
    return Split(train, split.valid, split.test, cold)
