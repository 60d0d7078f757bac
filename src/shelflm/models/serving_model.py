"""The contract between a trained artifact and the serving engine.

`shelflm.serving.runtime.load_artifact(dir)` returns an object satisfying `ServingModel`.
The engine holds item vectors itself (so new items join without the model), and asks the
model only to turn text into vectors and a history of item vectors into a user vector (the
user tower reads the very vectors it is scored against).

Two spaces: the retrieval space (`item_vectors`, user vectors; learned from behaviour) and
the text space (`text_vectors`, queries; the raw language model), where free-text search
ranks, because a head trained on behaviour alone loses what a question means.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog


@runtime_checkable
class ServingModel(Protocol):
    """What serving needs from a trained model; all vectors are float32 numpy arrays."""

    version: str  # identifies the artifact (e.g. a hash of its config and weights)
    dim: int  # retrieval-space dimension
    # Optional `score_dim` (< dim): only the first score_dim columns of item and user
    # vectors score; the others are the user tower's inputs alone (serving/ensemble.py).

    @property
    def catalog(self) -> Catalog:
        """The catalog snapshot the model was trained with (row i = item vector i)."""

    @property
    def item_vectors(self) -> np.ndarray:
        """(num_items, dim) retrieval-space vectors; score(u, i) = user_vector . item_vector."""

    @property
    def text_vectors(self) -> np.ndarray:
        """(num_items, d_text) unit text-space item vectors, row-aligned with the catalog."""

    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        """For new or changed catalog rows (ITEM_COLUMNS): (n, dim) retrieval-space vectors.

        The rows may carry `models.modality_inputs.VECTORS_COLUMN` (per row {modality name:
        vector} or None): a model with vector modalities (optional `vector_modalities`:
        {name: width}, checked before the call) encodes each item with its own; others
        ignore it."""

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        """For new or changed catalog rows: (n, d_text) unit vectors in the text space."""

    def encode_query(self, text: str) -> np.ndarray:
        """A shopper's free-text question as a (d_text,) unit vector in the text space."""

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        """(dim,) user vector from the (L, dim) item vectors of a time-ordered history and
        their (L,) event-type indices."""
