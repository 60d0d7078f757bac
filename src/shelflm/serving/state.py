"""What a request reads, built in one piece from a model and the shared store: the model, the
ItemTable, the vector index and the marks of what was applied. A reload builds a new one
aside and the engine swaps it in with one assignment."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shelflm.data.loaders import load_catalog
from shelflm.models.serving_model import ServingModel
from shelflm.serving.config import ServingConfig
from shelflm.serving.index import VectorIndex, make_index
from shelflm.serving.item_log import apply_item_changes
from shelflm.serving.items import ItemTable
from shelflm.serving.risk import Quarantine, RiskGuard, make_guard
from shelflm.serving.store import EventStore
from shelflm.serving.text_blend import TextBlended


@dataclass
class ServingState:
    """Everything a request reads; never half replaced."""

    model: ServingModel
    items: ItemTable
    index: VectorIndex
    artifact_dir: Path | None
    risk: RiskGuard | None = None  # [serving.risk_control]'s model, None when off
    quarantine: Quarantine = field(default_factory=Quarantine)
    event_mark: int = 0  # last store event applied (popularity, user-cache invalidation)
    item_mark: int = 0  # last catalog change applied from the store's item log
    _base: np.ndarray | None = None  # alive & in stock, rebuilt after a catalog change

    def count(self, pairs: list[tuple[str, str]]) -> None:
        """Add stored (user, item) events to popularity, but the quarantined users'."""
        slot_of, popularity, held = self.items.slot_of, self.items.popularity, \
            self.quarantine.users
        for user, item in pairs:
            s = slot_of.get(item)
            if s is not None and user not in held:
                popularity[s] += 1

    def base_mask(self) -> np.ndarray:
        """Live, in-stock slots (shared: copy before changing it)."""
        if self._base is None:
            self._base = self.items.alive & self.items.in_stock
        return self._base


# Loaders that moved: an older config, or the run recorded in an artifact, may name them.
MOVED_LOADERS = {"shelflm.models.artifact:load_artifact": "shelflm.serving.runtime:load_artifact"}


def load_model(spec: str, directory: Path) -> ServingModel:
    """Import 'module:function' and call it on the artifact directory."""
    module, _, name = MOVED_LOADERS.get(spec, spec).partition(":")
    loader: Callable[[Path], ServingModel] = getattr(importlib.import_module(module), name)
    return loader(directory)


def on_catalog(model: ServingModel, path: Path) -> ServingModel:
    """`model` serving the catalog at `path` (ServingConfig.catalog)."""
    if not hasattr(model, "on_catalog"):
        raise ValueError(f"{type(model).__name__} cannot serve another catalog (no "
                         "on_catalog); serve the artifact's own")
    return model.on_catalog(load_catalog(path))


def build_state(model: ServingModel, store: EventStore, config: ServingConfig,
                artifact_dir: Path | None) -> ServingState:
    """Index the model's items, count popularity from the stored events (but the quarantined
    users'), replay the item log (items added or deleted while serving, by any worker) and
    load the risk model."""
    # Optional runtime switches of a ServingModel (load_artifact's has both).
    if hasattr(model, "use_text_encoder"):
        model.use_text_encoder(config.text_encoder, config.onnx_cache_dir,
                               config.encoder_threads)
    if hasattr(model, "use_user_tower"):
        model.use_user_tower(config.user_tower, config.onnx_cache_dir, config.encoder_threads)
    if config.catalog is not None:
        model = on_catalog(model, config.catalog)
    if config.text_weight > 0:
        model = TextBlended(model, config.text_weight)
    text = model.text_vectors
    # A model's vectors may end in columns only its user tower reads (ServingModel.score_dim).
    items = ItemTable(model.dim, text.shape[1], getattr(model, "score_dim", model.dim))
    slots = items.upsert(model.catalog.items, model.item_vectors, text)
    index = make_index(config.index, items.score_dim, len(slots))
    index.upsert(slots, items.scored[slots])
    mark, counts = store.popularity_snapshot()
    for item, n in counts.items():
        if item in items.slot_of:
            items.popularity[items.slot_of[item]] = n
    guard = make_guard(config.risk_control, artifact_dir)
    state = ServingState(model, items, index, artifact_dir, guard, event_mark=mark)
    # After the snapshot: a user quarantined in between is taken out of it here (read in the
    # other order, their events would be taken out twice).
    state.quarantine.follow(store, items, mark)
    changes = store.item_changes_since(0)
    if changes:
        apply_item_changes(model, items, index, changes)
        state.item_mark = changes[-1].version
    return state
