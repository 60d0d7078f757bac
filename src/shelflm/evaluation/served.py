"""A served model (item vectors and a user tower over them) as an evaluation `Recommender`.

`shelflm evaluate` scores a saved artifact through the same protocol as every fitted
model: the user vector of each history, by inner product with every item vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from shelflm.data.splits import Split


class VectorModel(Protocol):
    """What scoring needs of a served model (a part of models.serving_model.ServingModel)."""

    @property
    def item_vectors(self) -> np.ndarray:
        """(num_items, dim) retrieval-space item vectors."""

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        """(dim,) user vector from the (L, dim) item vectors of a history and its events."""


class ServedRecommender:
    """Scores a trained, served model; it is fixed, so `fit` learns nothing."""

    def __init__(self, model: VectorModel, name: str) -> None:
        self.model, self.name = model, name

    def fit(self, split: Split) -> None:
        """Nothing to learn: the served model is already trained."""

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray],
              history_events: Sequence[np.ndarray]) -> np.ndarray:
        """(n, num_items) inner products of each history's user vector with every item."""
        vectors = self.model.item_vectors
        users_vec = np.stack([self.model.user_vector(vectors[np.asarray(h)], np.asarray(e))
                              for h, e in zip(histories, history_events, strict=True)])
        return users_vec @ vectors.T
