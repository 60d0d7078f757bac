"""The language model's own similarity in the score: a ServingModel whose score is

    score(user, item) = model score + weight * cos(mean of the history's LM vectors, item's)

as one inner product, so the index, the engine and the user cache stay as they are: the
item vector is [model vector ; unit LM vector] (text vectors are unit by the ServingModel
contract) and the user vector [model user vector ; weight * unit mean LM vector of the
history]. The user tower reads the first part of the
history's vectors, the mean the second.

Why: a head and a user tower trained on one shop's behaviour keep what that shop rewards and
lose the LM's notion of "similar", which is what carries to a new item or a new shop (on the
amazon-bundle sessions, the untrained similarity beat every trained model, docs/RESULTS.md).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog
from shelflm.models.item_text import unit_rows
from shelflm.models.serving_model import ServingModel


class TextBlended:
    """`model` with `weight` times the LM similarity added to every score."""

    def __init__(self, model: ServingModel, weight: float) -> None:
        if weight <= 0:
            raise ValueError(f"text weight must be > 0, got {weight}")
        self.inner, self.weight = model, float(weight)
        self.model_dim = model.dim
        self.dim = model.dim + model.text_vectors.shape[1]
        self.version = f"{model.version}+text{weight:g}"

    def __getattr__(self, name: str) -> object:  # runtime switches, names, the torch model
        return getattr(self.inner, name)

    @property
    def catalog(self) -> Catalog:
        return self.inner.catalog

    @cached_property
    def item_vectors(self) -> np.ndarray:  # built once: scoring asks for it every batch
        return np.hstack([self.inner.item_vectors, self.inner.text_vectors])  # unit already

    @property
    def text_vectors(self) -> np.ndarray:
        return self.inner.text_vectors

    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        return np.hstack([self.inner.encode_items(items), self.inner.encode_item_texts(items)])

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        return self.inner.encode_item_texts(items)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        history = np.asarray(history, dtype=np.float32)
        if history.ndim != 2 or history.shape[1] != self.dim:
            raise ValueError(f"history must be (L, {self.dim}), got {history.shape}")
        user = self.inner.user_vector(history[:, :self.model_dim], events)
        if len(history) == 0:
            return np.zeros(self.dim, dtype=np.float32)
        text = self.weight * unit_rows(history[:, self.model_dim:].mean(0, keepdims=True))[0]
        return np.concatenate([user, text]).astype(np.float32)

    def on_catalog(self, catalog: Catalog) -> TextBlended:
        """The blend over another catalog (the inner model's `on_catalog`)."""
        return TextBlended(self.inner.on_catalog(catalog), self.weight)
