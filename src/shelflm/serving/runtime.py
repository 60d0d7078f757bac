"""A trained artifact at serving time: `load_artifact(dir)` reads it (models.artifact) and
returns a LoadedShelfModel, the ServingModel (models/serving_model.py) the engine asks to
encode new items and queries and to turn a history into a user vector, on PyTorch or ONNX."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from shelflm.data.schema import ITEM_COLUMNS, Catalog
from shelflm.encoders.config import RUNTIMES
from shelflm.encoders.encode import TextEncoder, shared_encoder
from shelflm.encoders.onnx_encoder import default_cache_dir
from shelflm.models.artifact import Artifact, read_artifact
from shelflm.models.item_graph import attribute_means, fused, linked
from shelflm.models.item_text import item_text_vectors, unit_rows
from shelflm.models.modality_inputs import modality_inputs
from shelflm.serving.ensemble import Ensemble, is_ensemble, load_ensemble
from shelflm.serving.item_modalities import realigned, saved_vectors, vector_widths, with_vectors
from shelflm.serving.user_tower_onnx import OnnxUserTower, export_user_tower
from shelflm.text.templates import QueryTemplate, render_catalog

log = logging.getLogger(__name__)
USER_TOWERS = ("onnx", "pytorch")


def load_artifact(directory: str | Path) -> LoadedShelfModel | Ensemble:
    """Load an artifact directory written by `save_artifact` (weights via safetensors only),
    or an ensemble directory of them (`shelflm ensemble`) as one model."""
    if is_ensemble(Path(directory)):
        return load_ensemble(directory, load_artifact)
    return LoadedShelfModel(read_artifact(directory))


class LoadedShelfModel:
    """A saved artifact with the ServingModel methods (see models/serving_model.py)."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.directory, self.config = artifact.directory, artifact.config
        self.model, self.version = artifact.model, artifact.version
        self.dim, self.text = artifact.dim, artifact.text
        self._text_vectors = artifact.text_vectors
        # The engine asks for the behaviour view and the text view of the same new items one
        # after the other: the last batch's pooled LM vectors are kept so the LM runs once.
        self._pooled_memo: tuple[tuple[str, ...], np.ndarray] | None = None
        self._render_memo: tuple[pd.DataFrame, list[str]] | None = None
        # Runtime of the raw LM for queries and new items (use_text_encoder); the encoder
        # itself is the artifact's recorded EncoderConfig, built on first use.
        self.text_encoder = "pytorch"
        self._onnx_options: tuple[Path | None, int] = (None, 1)
        self._encoder: TextEncoder | None = None
        self._encoder_lock = threading.Lock()
        self.user_tower = "pytorch"  # or "onnx" (use_user_tower)
        self._onnx_tower: OnnxUserTower | None = None
        self._graph_means: dict | None = None  # item_graph.attribute_means, on first use

    @property
    def catalog(self) -> Catalog:
        """The catalog snapshot the model was trained with (row i = item vector i)."""
        return self.artifact.catalog

    @property
    def item_vectors(self) -> np.ndarray:
        """(num_items, dim) retrieval-space vectors, also the user tower's inputs."""
        return self.artifact.item_vectors

    @property
    def vector_modalities(self) -> dict[str, int]:
        """{name: width} of the vector modalities new items may carry (PUT /items `vectors`)."""
        return vector_widths(self.model.config.items.modalities)

    @property
    def text_vectors(self) -> np.ndarray:
        """(num_items, d_text) unit LM vectors of the items' text (computed if not saved)."""
        if self._text_vectors is None:  # artifacts saved before text vectors existed
            self._text_vectors = item_text_vectors(self.catalog.items, self.text, self.directory)
        return self._text_vectors

    def use_text_encoder(self, kind: str, cache_dir: Path | None = None,
                         threads: int = 1) -> None:
        """Run the LM for queries and new items' text on `kind` (onnx, onnx-int8, pytorch);
        the ONNX graph is exported (cached on disk) and loaded on first use."""
        if kind not in RUNTIMES:
            raise ValueError(f"encoder: {kind!r} is not one of {RUNTIMES}")
        with self._encoder_lock:
            self.text_encoder, self._onnx_options, self._encoder = kind, (cache_dir, threads), None
            self._pooled_memo = None

    def use_user_tower(self, kind: str, cache_dir: Path | None = None, threads: int = 1) -> None:
        """Run the user tower on `kind` (onnx or pytorch); the ONNX graph is exported once per
        artifact version into the cache folder and checked against PyTorch before use."""
        if kind not in USER_TOWERS:
            raise ValueError(f"user_tower: {kind!r} is not one of {USER_TOWERS}")
        self.user_tower, self._onnx_tower = "pytorch", None
        if kind == "pytorch":
            return
        max_len = self.model.config.sequence.max_len
        path = Path(cache_dir or default_cache_dir()) / "user-tower" / f"{self.version}.onnx"
        try:
            if not path.is_file():
                export_user_tower(self.model, path, max_len, self.dim)
            tower = OnnxUserTower(path, max_len, self.dim, threads)
            probe = np.random.default_rng(0).standard_normal((3, self.dim)).astype(np.float32)
            events = np.zeros(3, np.int64)
            want = self.user_vector(probe, events)
            if not np.allclose(tower(probe, events), want, atol=1e-4 * (1 + abs(want).max())):
                raise ValueError("exported graph disagrees with PyTorch")
        except Exception as exc:  # export or runtime failure: serve, slower
            log.warning("%s: ONNX user tower unavailable (%s); using PyTorch", self.directory, exc)
            return
        self.user_tower, self._onnx_tower = "onnx", tower

    def _text_encoder(self) -> TextEncoder:
        """The artifact's recorded EncoderConfig on the chosen runtime, built on first use."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = self._build_encoder()
            return self._encoder

    def _build_encoder(self) -> TextEncoder:
        cache_dir, threads = self._onnx_options
        onnx = self.text_encoder != "pytorch"
        # Same model, pooling, normalisation and truncation as the saved vectors; no vector
        # cache (one shard per query) and no progress bar on a query path. PyTorch keeps the
        # process's thread setting, as before.
        config = replace(self.text.encoder, runtime=self.text_encoder, cache_dir=None,
                         progress_min_texts=0, threads=threads if onnx else None,
                         onnx_dir=str(cache_dir) if cache_dir else None)
        try:
            return shared_encoder(config, self.directory)
        except Exception as exc:  # export or runtime failure: serve, slower
            if not onnx:
                raise
            log.warning("%s: ONNX encoder unavailable (%s); using PyTorch", self.directory, exc)
            self.text_encoder = "pytorch"
            return shared_encoder(replace(config, runtime="pytorch", threads=None),
                                  self.directory)

    def _rendered(self, items: pd.DataFrame) -> list[str]:
        """Item texts of catalog rows; the engine asks twice for one frame (behaviour and text
        views), and rendering plus validation cost more than the ONNX encoding of one item."""
        memo = self._render_memo
        if memo is not None and memo[0] is items:
            return memo[1]
        typed = all(c in items.columns and str(items[c].dtype) == str(d)
                    for c, d in ITEM_COLUMNS.items())  # already a validated Catalog frame
        catalog = Catalog(items) if typed else Catalog.from_frame(items, "new items")
        texts = list(render_catalog(catalog, self.text.template()))
        self._render_memo = (items, texts)
        return texts

    def _pooled(self, texts: list[str]) -> np.ndarray:
        """LM vectors of texts as the recorded EncoderConfig makes them (normalised iff its
        `normalize`, as the training vectors were); the last batch is remembered."""
        key, memo = tuple(texts), self._pooled_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        pooled = self._text_encoder().encode(texts)
        self._pooled_memo = (key, pooled)
        return pooled

    def on_catalog(self, catalog: Catalog) -> LoadedShelfModel:
        """This model scoring another catalog (a second shop, or this one grown): an item
        the artifact was trained with (same id, same rendered text) keeps its trained
        vector; every other item's vector comes from its text alone, as a new item's does.
        ValueError for an ID-only model, which has nothing to score unknown items with."""
        own, texts = self.catalog, self._rendered(catalog.items)
        if list(own.ids) == list(catalog.ids) and own.items.equals(catalog.items):
            return self
        trained_text = dict(zip(own.ids, render_catalog(own, self.text.template()), strict=True))
        row_of = {item: row for row, item in enumerate(own.ids)}
        keep = np.array([trained_text.get(i) == t for i, t in zip(catalog.ids, texts,
                                                                   strict=True)], dtype=bool)
        vectors = np.zeros((len(catalog), self.dim), dtype=np.float32)
        text_vectors = np.zeros((len(catalog), self.text_vectors.shape[1]), dtype=np.float32)
        old_rows = [row_of[i] for i in catalog.ids[keep]]
        vectors[keep] = self.item_vectors[old_rows]
        text_vectors[keep] = self.text_vectors[old_rows]
        new = catalog.items[~keep]
        modalities, inputs = self.model.config.items.modalities, self.artifact.modality_inputs
        if len(new):  # an item the artifact had keeps its saved image (vector modalities)
            vectors[~keep] = self.encode_items(with_vectors(new, saved_vectors(
                new["item_id"].tolist(), row_of, inputs, modalities)) if modalities else new)
            text_vectors[~keep] = self.encode_item_texts(new)
        log.info("%s on a catalog of %d items: %d scored from text alone", self.directory,
                 len(catalog), len(new))
        moved = LoadedShelfModel(replace(
            self.artifact, catalog=catalog, item_vectors=vectors, text_vectors=text_vectors,
            modality_inputs=realigned(inputs, row_of, list(catalog.ids))))
        moved.text_encoder, moved._onnx_options = self.text_encoder, self._onnx_options
        moved._encoder = self._encoder  # the LM is the same: not loaded twice
        return moved

    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        """New or changed catalog rows -> (n, dim) item vectors, from their text and the
        modalities they carry (vectors: the frame's optional VECTORS_COLUMN, checked by the
        caller; numbers and second texts: their columns); a missing one adds nothing."""
        if not self.model.item_tower.config.use_text:
            raise ValueError(f"{self.directory}: an ID-only model cannot encode new items")
        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = self._rendered(items)
        tower = self.model.item_tower
        inputs = self._modality_inputs(items)
        with torch.no_grad():
            if tower.tuner is not None:
                vec = tower.encode_texts(texts, inputs)
            else:
                pooled = self._graph_fused(items, self._pooled(texts))
                vec = tower.encode_text_vectors(torch.from_numpy(pooled), inputs)
        return vec.numpy().astype(np.float32)

    def _modality_inputs(self, items: pd.DataFrame) -> dict[str, torch.Tensor] | None:
        """Raw modality inputs of new rows (models/modality_inputs.py); None: text only."""
        modalities = self.model.config.items.modalities
        if not modalities:
            return None
        raw = modality_inputs(items, modalities, lambda t: self._text_encoder().encode(t))
        return {name: torch.from_numpy(x) for name, x in raw.items()}

    def _graph_fused(self, items: pd.DataFrame, pooled: np.ndarray) -> np.ndarray:
        """New items' LM vectors fused with their category, brand and listed links, as in
        training (models/item_graph.py; neighbours' vectors are the saved catalog's text
        vectors)."""
        config = self.model.config.items
        if config.graph <= 0:
            return pooled
        if self._graph_means is None:
            self._graph_means = attribute_means(self.catalog.items, self.text_vectors)
        links = linked(items, self.catalog.ids, self.text_vectors,
                       tuple(config.graph_links)) if config.graph_links else []
        return fused(items, pooled, config.graph, self._graph_means, links)

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        """New or changed catalog rows -> (n, d_text) unit LM text vectors (search space)."""
        if len(items) == 0:
            return np.zeros((0, self.text_vectors.shape[1]), dtype=np.float32)
        return unit_rows(self._pooled(self._rendered(items)))

    def encode_query(self, text: str) -> np.ndarray:
        """A free-text question as a (d_text,) unit LM vector, comparable to text_vectors."""
        return unit_rows(self._text_encoder().encode([QueryTemplate().render(text)]))[0]

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        """(dim,) user vector from the (L, dim) item vectors of a time-ordered history and
        their (L,) event indices."""
        history = np.asarray(history, dtype=np.float32)
        events = np.asarray(events, dtype=np.int64)
        if history.ndim != 2 or history.shape[1] != self.dim:
            raise ValueError(f"history must be (L, {self.dim}), got {history.shape}")
        if events.shape != (len(history),):
            raise ValueError(f"events must be ({len(history)},), got {events.shape}")
        num_events = self.model.config.sequence.num_event_types
        if len(events) and (events.min() < 0 or events.max() >= num_events):
            raise ValueError(f"event indices must be in [0, {num_events}), got {events}")
        if len(history) == 0:
            # No behaviour yet: a zero vector scores every item alike; the engine falls back.
            return np.zeros(self.dim, dtype=np.float32)
        if self._onnx_tower is not None:
            return self._onnx_tower(history, events)
        max_len = self.model.config.sequence.max_len
        vec = torch.tensor(history[-max_len:]).unsqueeze(0)
        ev = torch.tensor(events[-max_len:]).unsqueeze(0)
        with torch.no_grad():
            user = self.model.user_vectors_from_inputs(vec, ev, torch.ones(ev.shape, dtype=bool))
        return user[0].numpy().astype(np.float32)
