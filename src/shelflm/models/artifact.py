"""The artifact directory of a trained model, as a format: writing it and reading its parts
back (its names, checks and card, torch-free: models/model_card.py). Serving a read artifact
is shelflm.serving.runtime's business.

Layout (as ../shared/DESIGN.md asks; no pickle anywhere, so a model file cannot run code):
    config.json              human-readable, written last (a directory holding one is complete):
                             format, sizes, and each part as it describes itself: "model"
                             (ShelfModelConfig.to_dict), "text" (TextSettings.to_dict: item
                             template and the EncoderConfig the text vectors were made with),
                             "tuner" (the method of a fine-tuned LM, saved under adapter/)
    model.safetensors        all weights of the item and user towers
    item_vectors.safetensors "item_vectors" (retrieval space, also the user tower's inputs) and
                             "text_vectors" (unit LM vectors: the search space); row i = catalog
                             row i
    catalog.parquet          the catalog snapshot the vectors belong to
    modalities.safetensors   with extra modalities (config.json "modalities": name, kind,
                             width): each one's raw inputs per catalog row, NaN = missing, so
                             `on_catalog` and re-encoding keep an item's image vector
    training.json            the last fit's epoch records and trainable share (model card)
    exemplars.parquet        optional: events of chosen training sequences (user_id, item_id,
                             timestamp, event, value), replayed by `shelflm update`
    adapter/                 the tuner's own files, when the LM was fine-tuned

Format version 1 also stored "history_vectors", always a copy of "item_vectors" (ignored on
read); its earliest files have no "text_vectors" and an older "text" layout. Both still load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch

from shelflm.data.schema import Catalog
from shelflm.encoders.peft.registry import load_tuner
from shelflm.models.config import ShelfModelConfig
from shelflm.models.item_text import TextSettings, item_text_vectors
from shelflm.models.item_tower import ItemTower
from shelflm.models.model_card import (
    CONFIG,
    FORMAT,
    FORMAT_VERSION,
    TRAINING,
    WEIGHTS,
    finite,
    read_config,
    version_hash,
)
from shelflm.models.shelf_model import ShelfModel

VECTORS, CATALOG, ADAPTER, EXEMPLARS = (
    "item_vectors.safetensors", "catalog.parquet", "adapter", "exemplars.parquet")
MODALITIES = "modalities.safetensors"


class FittedRecommender(Protocol):
    """What save_artifact reads of a fitted recommender (shelflm.training's ShelfRecommender)."""

    name: str
    model: ShelfModel | None
    text_vectors: np.ndarray | None  # the LM vectors the item tower was trained on
    text_settings: TextSettings | None  # the settings that made them

    def item_table(self) -> torch.Tensor:
        """(num_items, dim) item vectors in eval mode."""


@dataclass(frozen=True)
class Artifact:
    """The parts of an artifact directory, read back; vectors are copy-on-write memory maps
    (worker processes serving one artifact share their pages until one writes)."""

    directory: Path
    config: dict  # config.json as stored (with whatever was added to it after saving)
    model: ShelfModel  # weights loaded, eval mode
    text: TextSettings
    catalog: Catalog
    item_vectors: np.ndarray  # (num_items, dim) retrieval space and user-tower inputs
    text_vectors: np.ndarray | None  # (num_items, d_text) unit LM vectors; None: not saved
    version: str  # 12 hex digits of sha256(config.json + model.safetensors)
    # {name: (num_items, width)} raw modality inputs (NaN = missing); None: text only.
    modality_inputs: dict[str, np.ndarray] | None = None

    @property
    def dim(self) -> int:
        """Retrieval-space dimension."""
        return int(self.config["dim"])


def save_artifact(
    rec: FittedRecommender, directory: str | Path, catalog: Catalog,
    text: TextSettings | None = None, records: dict[str, dict] | None = None,
    exemplars: pd.DataFrame | None = None,
) -> Path:
    """Write a fitted recommender as an artifact directory; returns the directory.

    `records` are further top-level entries of config.json that other parts own (the run's
    config, see `settings.artifact_record`); config.json is written once, last.
    """
    if rec.model is None:
        raise ValueError(f"{rec.name}: fit() the model before saving an artifact")
    if len(catalog) != rec.model.num_items:
        raise ValueError(f"catalog has {len(catalog)} items but the model {rec.model.num_items}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).unlink(missing_ok=True)  # a reused directory is no artifact until done
    text = text or rec.text_settings or TextSettings()
    model = rec.model
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": rec.name,
        "model": model.config.to_dict(), "text": text.to_dict(),
        "num_items": model.num_items, "dim": model.config.sequence.hidden,
        "text_dim": model.item_tower.text_dim,
    }
    tuner = model.item_tower.tuner
    if tuner is not None:
        # The tuner saves itself (config, texts, adapter weights; base model by reference).
        config["tuner"] = tuner.config.method
        tuner.save(out / ADAPTER)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if not k.startswith("item_tower.tuner.")}
    save_torch(state, str(out / WEIGHTS))
    # The user tower reads the same vectors it scores (SASRec-style shared item space).
    table = rec.item_table().numpy().astype(np.float32)
    save_numpy({"item_vectors": table, "text_vectors": _text_vectors(rec, catalog, text)},
               str(out / VECTORS))
    catalog.items.to_parquet(out / CATALOG, index=False)
    modalities = _save_modalities(model, out)
    if modalities:
        config["modalities"] = modalities
    _save_training(rec, out)
    (out / EXEMPLARS).unlink(missing_ok=True)  # a former artifact's, in a reused directory
    if exemplars is not None:
        exemplars.assign(event=exemplars["event"].astype(str)).to_parquet(out / EXEMPLARS,
                                                                          index=False)
    clash = sorted(set(records or {}) & set(config))
    if clash:
        raise ValueError(f"records {clash} would overwrite the artifact's own config entries")
    write_config(out, {**config, **(records or {})})
    return out


def _save_training(rec: FittedRecommender, out: Path) -> None:
    """training.json: the last fit's epoch records and trainable weights (the model card's
    curves and tuning share, models/model_card.py); a former artifact's goes."""
    (out / TRAINING).unlink(missing_ok=True)
    history, trainable = getattr(rec, "history", None), getattr(rec, "trainable", None)
    if history or trainable:
        record = {"epochs": finite(list(history or [])),
                  "trainable": list(trainable) if trainable and trainable[1] else None}
        (out / TRAINING).write_text(json.dumps(record, indent=1) + "\n")


def write_config(out: Path, config: dict) -> None:
    """config.json, last and atomically: a directory whose writer was killed has none, so
    nothing (a server's reload, `shelflm refresh` after a restart) takes it for an artifact."""
    tmp = out / f".{CONFIG}.{os.getpid()}"
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    tmp.replace(out / CONFIG)


def _save_modalities(model: ShelfModel, out: Path) -> list[dict]:
    """modalities.safetensors (the tower's raw inputs per catalog row) and config.json's
    summary of them; nothing for a text-only model."""
    (out / MODALITIES).unlink(missing_ok=True)  # a former artifact's, in a reused directory
    tower = model.item_tower
    if tower.fusion is None:
        return []
    # Contiguous copies: safetensors writes an array's memory as it lies.
    save_numpy({name: np.ascontiguousarray(getattr(tower, f"modality_{name}").detach().numpy(),
                                           np.float32)
                for name in tower.fusion.configs}, str(out / MODALITIES))
    return [{"name": m.name, "kind": m.kind, "width": m.width}
            for m in tower.fusion.configs.values()]


def _text_vectors(rec: FittedRecommender, catalog: Catalog, text: TextSettings) -> np.ndarray:
    """Raw LM vectors of the catalog: the text head is trained on behaviour only, so query
    meaning survives in the LM space, not the retrieval space (free-text search ranks there)."""
    if (rec.text_vectors is not None and rec.text_settings == text and text.encoder.normalize
            and len(rec.text_vectors) == len(catalog)):
        return np.asarray(rec.text_vectors, dtype=np.float32)  # made by these very settings
    return item_text_vectors(catalog.items, text)


def read_artifact(directory: str | Path) -> Artifact:
    """The parts of an artifact directory written by `save_artifact` (this or an older
    format version), each checked against config.json."""
    root = Path(directory)
    raw, config = read_config(root)
    weights = (root / WEIGHTS).read_bytes()
    inputs = _read_modalities(root, config)
    model = _read_model(root, config, inputs)
    vectors = map_vectors(root / VECTORS)
    catalog = Catalog.from_frame(pd.read_parquet(root / CATALOG), CATALOG)
    n = int(config["num_items"])
    if len(catalog) != n or vectors["item_vectors"].shape != (n, int(config["dim"])):
        raise ValueError(f"{root}: catalog ({len(catalog)}), vectors "
                         f"{vectors['item_vectors'].shape} and config ({n}) disagree")
    version = version_hash(raw, weights)
    return Artifact(root, config, model, TextSettings.from_dict(config["text"]), catalog,
                    vectors["item_vectors"], vectors.get("text_vectors"), version, inputs)


def _read_modalities(root: Path, config: dict) -> dict[str, np.ndarray] | None:
    """modalities.safetensors' inputs, checked against the recorded modalities (None: an
    artifact without any, as every one before them)."""
    recorded = config["model"]["items"].get("modalities") or []
    if not recorded:
        return None
    n, path = int(config["num_items"]), root / MODALITIES
    if not path.is_file():
        raise ValueError(f"{root}: config.json records modalities but {MODALITIES} is missing")
    saved = map_vectors(path)
    inputs = {}
    for m in recorded:
        x = saved.get(m["name"])
        if x is None or x.shape != (n, int(m["width"])):
            raise ValueError(f"{root}: {MODALITIES} has no ({n}, {m['width']}) {m['name']!r}")
        inputs[m["name"]] = np.array(x, np.float32)
    return inputs


def _read_model(root: Path, config: dict,
                inputs: dict[str, np.ndarray] | None = None) -> ShelfModel:
    """The ShelfModel of config.json's "model" with model.safetensors' weights, eval mode."""
    model_config = ShelfModelConfig(**config["model"])
    n = int(config["num_items"])
    placeholder = np.zeros((n, int(config["text_dim"])), np.float32) if config["text_dim"] else None
    model_config.items.whiten = False  # whitening comes from the saved buffers below
    tuner = load_tuner(root / ADAPTER) if config.get("tuner") else None
    model = ShelfModel(model_config, ItemTower(model_config.items, n, placeholder, tuner=tuner,
                                               modality_inputs=inputs))
    missing, unexpected = model.load_state_dict(load_torch(str(root / WEIGHTS)), strict=False)
    missing = [k for k in missing if not k.startswith("item_tower.tuner.")]
    if missing or unexpected:
        raise ValueError(f"{root}: {WEIGHTS} does not fit the config (missing "
                         f"{missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


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
