"""Test double: a ServingModel that needs no training. Item and query text become sums of
fixed random token vectors (hashing bag of words), a user is a recency- and event-weighted
mean.

It lets serving be tested and benchmarked without a trained artifact, and is a floor any
trained model must beat. Its artifact directory has the house layout. It lives with the
tests, not in the package: import it as `hashing_model` (pyproject puts tests/ on the
pytest path), and name its loader `hashing_model:load_hashing_artifact` (a subprocess
needs tests/ on PYTHONPATH, see LOADER_PATH).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from shelflm.data.schema import EVENT_TYPES, Catalog

FORMAT = "shelflm-hashing"
LOADER = "hashing_model:load_hashing_artifact"
LOADER_PATH = str(Path(__file__).resolve().parent)  # for PYTHONPATH of a server subprocess
# Stronger events say more about a shopper, in EVENT_TYPES order (view ... rating).
EVENT_WEIGHTS = np.array([1.0, 1.5, 2.0, 3.0, 2.0], np.float32)
RECENCY_DECAY = 0.9
_TOKEN = re.compile(r"[a-z0-9]+")
assert len(EVENT_WEIGHTS) == len(EVENT_TYPES)


@lru_cache(maxsize=200_000)
def _token_vector(token: str, dim: int, seed: int) -> np.ndarray:
    # crc32, not hash(): Python salts str hashes per process, and vectors must be stable.
    rng = np.random.default_rng((zlib.crc32(token.encode()), seed))
    return rng.standard_normal(dim).astype(np.float32)


def text_vector(text: str, dim: int, seed: int = 0) -> np.ndarray:
    """Unit-length hashing bag-of-words vector of `text` (zeros when it has no tokens)."""
    out = np.zeros(dim, np.float32)
    for token in set(_TOKEN.findall(text.lower())):
        out += _token_vector(token, dim, seed)
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 0 else out


def item_text(items: pd.DataFrame) -> list[str]:
    """Title, brand and category of each row, the text the hashing model reads."""
    cols = [c for c in ("title", "brand", "category") if c in items.columns]
    return items[cols].fillna("").astype(str).agg(" ".join, axis=1).tolist()


class HashingModel:
    """ServingModel over hashed item text; the text vectors are the item vectors."""

    def __init__(self, catalog: Catalog, dim: int = 64, seed: int = 0,
                 item_vectors: np.ndarray | None = None) -> None:
        if dim < 2:
            raise ValueError(f"dim: must be >= 2, got {dim}")
        self.dim, self.seed, self._catalog = dim, seed, catalog
        if item_vectors is None:
            item_vectors = self.encode_items(catalog.items)
        if item_vectors.shape != (len(catalog), dim):
            raise ValueError(
                f"item_vectors: shape {item_vectors.shape}, expected ({len(catalog)}, {dim})")
        self._vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        digest = hashlib.sha1(self._vectors.tobytes()).hexdigest()[:12]
        self.version = f"hashing-{dim}d-{digest}"

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def item_vectors(self) -> np.ndarray:
        return self._vectors

    @property
    def text_vectors(self) -> np.ndarray:
        # The retrieval space is already a text space here, so search shares it.
        return self._vectors

    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        """Vectors of new or changed catalog rows."""
        texts = item_text(items)
        return np.stack([text_vector(t, self.dim, self.seed) for t in texts]) if texts else \
            np.empty((0, self.dim), np.float32)

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        """Text-space vectors of catalog rows (the same hashing vectors)."""
        return self.encode_items(items)

    def encode_query(self, text: str) -> np.ndarray:
        """The query's hashing vector."""
        return text_vector(text, self.dim, self.seed)

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        """Mean of history vectors weighted by event strength and recency (newest heaviest)."""
        if len(history) == 0:
            return np.zeros(self.dim, np.float32)
        ages = np.arange(len(history) - 1, -1, -1, dtype=np.float32)
        weights = EVENT_WEIGHTS[np.asarray(events, np.int64)] * RECENCY_DECAY ** ages
        return (weights @ history / weights.sum()).astype(np.float32)


def save_hashing_artifact(model: HashingModel, directory: str | Path) -> Path:
    """Write config.json, item_vectors.safetensors and catalog.parquet."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "dim": model.dim, "seed": model.seed, "version": model.version}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({"item_vectors": model.item_vectors}, str(directory / "item_vectors.safetensors"))
    model.catalog.items.to_parquet(directory / "catalog.parquet", index=False)
    return directory


def load_hashing_artifact(directory: str | Path) -> HashingModel:
    """Read a directory written by save_hashing_artifact."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: not an artifact directory (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{config_path}: format {config.get('format')!r}, expected {FORMAT!r}")
    catalog = Catalog.from_frame(pd.read_parquet(directory / "catalog.parquet"), str(directory))
    vectors = load_file(str(directory / "item_vectors.safetensors"))["item_vectors"]
    return HashingModel(catalog, int(config["dim"]), int(config["seed"]), vectors)
