"""The artifact directory of a trained model, and loading it back for serving.

Layout (as ../shared/DESIGN.md asks; no pickle anywhere, so a model file cannot run code):
    config.json              human-readable: model config, text settings (item template and
                             the EncoderConfig the text vectors were made with), sizes
    model.safetensors        all weights of the item and user towers
    item_vectors.safetensors retrieval vectors, user-tower inputs and LM text vectors
                             (search space), row i = catalog row i
    catalog.parquet          the catalog snapshot the vectors belong to
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch

from shelflm.data.schema import Catalog
from shelflm.encoders.config import DEFAULT_MODEL, RUNTIMES, EncoderConfig
from shelflm.encoders.encode import TextEncoder
from shelflm.models.config import ShelfModelConfig
from shelflm.models.item_tower import ItemTower
from shelflm.models.shelf_model import ShelfModel, ShelfRecommender
from shelflm.text.templates import ItemTemplate, QueryTemplate, render_catalog

log = logging.getLogger(__name__)
FORMAT = "shelflm-artifact"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TextSettings:
    """How item and query text reach the LM: the item template format and the EncoderConfig
    the text vectors were made with (serving encodes queries and new items exactly so)."""

    item_format: str = "{title}"  # ItemTemplate format string rendered per catalog row
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def to_dict(self) -> dict:
        """config.json's "text": {"item_format": ..., "encoder": {EncoderConfig fields}}."""
        return {"item_format": self.item_format, "encoder": asdict(self.encoder)}

    @classmethod
    def from_dict(cls, data: dict) -> TextSettings:
        """Read `to_dict` output, or an older artifact's language_model / max_tokens /
        normalize (mean pooling was then the only one)."""
        if "encoder" in data:
            return cls(data.get("item_format", "{title}"), EncoderConfig(**data["encoder"]))
        encoder = EncoderConfig(model=data.get("language_model", DEFAULT_MODEL),
                                max_length=data.get("max_tokens", 64),
                                normalize=data.get("normalize", True), pooling="mean")
        return cls(data.get("item_format", "{title}"), encoder)


def item_text_vectors(items: pd.DataFrame, text: TextSettings,
                      base_dir: Path | None = None) -> np.ndarray:
    """(n, d_text) unit LM vectors of catalog rows' rendered text: the free-text search space."""
    texts = render_catalog(Catalog.from_frame(items, "items"),
                           ItemTemplate(name="artifact", format=text.item_format))
    # Always unit length: search ranks by cosine whatever the tower's input normalisation.
    return _unit_rows(TextEncoder(text.encoder, base_dir).encode(list(texts)))


_NUMPY_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def map_vectors(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file as copy-on-write memory maps: worker processes
    serving one artifact share its pages until one writes (then only that page is copied)."""
    with path.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _NUMPY_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}, expected one of "
                             f"{sorted(_NUMPY_DTYPES)}")
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end - start != int(np.prod(shape)) * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: {name} data size does not match shape {shape}")
        out[name] = (np.memmap(path, dtype, "c", 8 + size + start, shape) if end > start
                     else np.zeros(shape, dtype))
    return out


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as torch's F.normalize does."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def save_artifact(
    rec: ShelfRecommender, directory: str | Path, catalog: Catalog,
    text: TextSettings | None = None,
) -> Path:
    """Write a fitted recommender as an artifact directory; returns the directory."""
    if rec.model is None:
        raise ValueError(f"{rec.name}: fit() the model before saving an artifact")
    if len(catalog) != rec.model.num_items:
        raise ValueError(f"catalog has {len(catalog)} items but the model {rec.model.num_items}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    text = text or rec.text_settings or TextSettings()
    model = rec.model
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": rec.name,
        "model": rec.config.to_dict(), "text": text.to_dict(),
        "num_items": model.num_items, "dim": rec.config.sequence.hidden,
        "text_dim": model.item_tower.text_dim,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tuner = model.item_tower.tuner
    if tuner is not None:
        # The tuner saves itself (config, texts, adapter weights; base model by reference).
        config["tuner"] = tuner.config.method
        tuner.save(out / "adapter")
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if not k.startswith("item_tower.tuner.")}
    save_torch(state, str(out / "model.safetensors"))
    table = rec.item_table().numpy().astype(np.float32)
    # The user tower reads the same vectors it scores (SASRec-style shared item space).
    # Raw LM vectors too: the text head is trained on behaviour only, so query meaning
    # survives in the LM space, not the retrieval space (free-text search ranks there).
    if (rec.text_vectors is not None and rec.text_settings == text and text.encoder.normalize
            and len(rec.text_vectors) == len(catalog)):
        texts = np.asarray(rec.text_vectors, dtype=np.float32)  # made by these very settings
    else:
        texts = item_text_vectors(catalog.items, text)
    save_numpy({"item_vectors": table, "history_vectors": table.copy(), "text_vectors": texts},
               str(out / "item_vectors.safetensors"))
    catalog.items.to_parquet(out / "catalog.parquet", index=False)
    return out


class LoadedShelfModel:
    """A saved artifact with the ServingModel methods (see models/serving_model.py)."""

    def __init__(self, directory: Path, config: dict, model: ShelfModel, catalog: Catalog,
                 vectors: dict[str, np.ndarray], version: str) -> None:
        self.directory, self.config, self.model = directory, config, model
        self._catalog, self._vectors, self.version = catalog, vectors, version
        self.dim = int(config["dim"])
        self.text = TextSettings.from_dict(config["text"])
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
        self._onnx_tower = None

    @property
    def catalog(self) -> Catalog:
        """The catalog snapshot the model was trained with (row i = item vector i)."""
        return self._catalog

    @property
    def item_vectors(self) -> np.ndarray:
        """(num_items, dim) retrieval-space vectors."""
        return self._vectors["item_vectors"]

    @property
    def history_vectors(self) -> np.ndarray:
        """(num_items, dim) inputs of the user tower, row-aligned with the catalog."""
        return self._vectors["history_vectors"]

    @property
    def text_vectors(self) -> np.ndarray:
        """(num_items, d_text) unit LM vectors of the items' text (computed if not saved)."""
        if "text_vectors" not in self._vectors:  # artifacts saved before text vectors existed
            self._vectors["text_vectors"] = item_text_vectors(
                self._catalog.items, self.text, self.directory)
        return self._vectors["text_vectors"]

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
        if kind not in ("onnx", "pytorch"):
            raise ValueError(f"user_tower: {kind!r} is not one of ('onnx', 'pytorch')")
        self.user_tower, self._onnx_tower = "pytorch", None
        if kind == "pytorch":
            return
        from shelflm.encoders.onnx_encoder import default_cache_dir
        from shelflm.serving.user_tower_onnx import OnnxUserTower, export_user_tower

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
            return TextEncoder(config, self.directory)
        except Exception as exc:  # export or runtime failure: serve, slower
            if not onnx:
                raise
            log.warning("%s: ONNX encoder unavailable (%s); using PyTorch", self.directory, exc)
            self.text_encoder = "pytorch"
            return TextEncoder(replace(config, runtime="pytorch", threads=None), self.directory)

    def _rendered(self, items: pd.DataFrame) -> list[str]:
        """Item texts of catalog rows; the engine asks twice for one frame (behaviour and text
        views), and rendering plus validation cost more than the ONNX encoding of one item."""
        from shelflm.data.schema import ITEM_COLUMNS

        memo = self._render_memo
        if memo is not None and memo[0] is items:
            return memo[1]
        typed = all(c in items.columns and str(items[c].dtype) == str(d)
                    for c, d in ITEM_COLUMNS.items())  # already a validated Catalog frame
        catalog = Catalog(items) if typed else Catalog.from_frame(items, "new items")
        texts = list(render_catalog(catalog, ItemTemplate(name="artifact",
                                                          format=self.text.item_format)))
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

    def encode_items(self, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """New or changed catalog rows -> (item_vectors, history_vectors), from text alone."""
        if not self.model.item_tower.config.use_text:
            raise ValueError(f"{self.directory}: an ID-only model cannot encode new items")
        if len(items) == 0:
            empty = np.zeros((0, self.dim), dtype=np.float32)
            return empty, empty.copy()
        texts = self._rendered(items)
        tower = self.model.item_tower
        with torch.no_grad():
            if tower.tuner is not None:
                vec = tower.encode_texts(texts)
            else:
                vec = tower.encode_text_vectors(torch.from_numpy(self._pooled(texts)))
        vec = vec.numpy().astype(np.float32)
        return vec, vec.copy()

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        """New or changed catalog rows -> (n, d_text) unit LM text vectors (search space)."""
        if len(items) == 0:
            return np.zeros((0, self.text_vectors.shape[1]), dtype=np.float32)
        return _unit_rows(self._pooled(self._rendered(items)))

    def encode_query(self, text: str) -> np.ndarray:
        """A free-text question as a (d_text,) unit LM vector, comparable to text_vectors."""
        return _unit_rows(self._text_encoder().encode([QueryTemplate().render(text)]))[0]

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        """(dim,) user vector from (L, dim) history vectors and (L,) event indices."""
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


def load_artifact(directory: str | Path) -> LoadedShelfModel:
    """Load an artifact directory written by `save_artifact` (weights via safetensors only)."""
    root = Path(directory)
    path = root / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: not a shelflm artifact (no config.json)")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: format {config.get('format')!r} is not {FORMAT!r}")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {config['format_version']} is newer than "
                         f"this shelflm reads ({FORMAT_VERSION})")
    model_config = ShelfModelConfig(**config["model"])
    n = int(config["num_items"])
    placeholder = np.zeros((n, int(config["text_dim"])), np.float32) if config["text_dim"] else None
    model_config.items.whiten = False  # whitening comes from the saved buffers below
    tuner = None
    if config.get("tuner"):
        from shelflm.encoders.peft.registry import load_tuner

        tuner = load_tuner(root / "adapter")
    tower = ItemTower(model_config.items, n, placeholder, tuner=tuner)
    model = ShelfModel(model_config, tower)
    weights = (root / "model.safetensors").read_bytes()
    missing, unexpected = model.load_state_dict(load_torch(str(root / "model.safetensors")),
                                                strict=False)
    missing = [k for k in missing if not k.startswith("item_tower.tuner.")]
    if missing or unexpected:
        raise ValueError(f"{root}: model.safetensors does not fit the config (missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    vectors = map_vectors(root / "item_vectors.safetensors")
    catalog = Catalog.from_frame(pd.read_parquet(root / "catalog.parquet"), "catalog.parquet")
    if len(catalog) != n or vectors["item_vectors"].shape != (n, int(config["dim"])):
        raise ValueError(f"{root}: catalog ({len(catalog)}), vectors "
                         f"{vectors['item_vectors'].shape} and config ({n}) disagree")
    version = hashlib.sha256(path.read_bytes() + weights).hexdigest()[:12]
    return LoadedShelfModel(root, config, model, catalog, vectors, version)
