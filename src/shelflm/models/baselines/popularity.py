"""Most-popular baseline: every user gets the items with the most training events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from shelflm.evaluation.protocol import item_popularity

if TYPE_CHECKING:
    from shelflm.data.splits import Split


class Popularity:
    """Scores an item by log(1 + its count of training events); the same list for everyone."""

    name = "popularity"
    grid: dict[str, list] = {}  # nothing to tune

    def __init__(self) -> None:
        self.scores: np.ndarray | None = None

    def fit(self, split: Split) -> None:
        """Count training events per item."""
        self.scores = np.log1p(item_popularity(split.train)).astype(np.float32)

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """The popularity vector repeated for each user."""
        if self.scores is None:
            raise RuntimeError("Popularity.score called before fit")
        return np.broadcast_to(self.scores, (len(users), len(self.scores))).copy()
