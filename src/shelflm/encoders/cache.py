"""On-disk vector cache: re-encoding a catalog only encodes texts that changed.

Vectors are keyed by (model identity, adapter identity, template identity, text hash).
The first three name a namespace folder; inside it, vectors live in safetensors shards
(`vectors` float32 (n, d), `keys` uint8 (n, 16) = blake2b of the text), never pickle.
New vectors go to a new shard written atomically, so concurrent writers never corrupt
one another; many small shards are merged when they pile up.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors.numpy import load_file, save_file

KEY_BYTES = 16
MAX_SHARDS = 16  # merge beyond this many, so a lookup opens few files


class Encoder(Protocol):
    """Anything with `encode(texts) -> (n, d) float32` (TextEncoder, a test double, ...)."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


def text_key(text: str) -> bytes:
    """The 16-byte key of one text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=KEY_BYTES).digest()


@dataclass
class CacheStats:
    """What the last `encode` call found: hits served from disk, misses encoded."""

    hits: int = 0
    misses: int = 0


class VectorCache:
    """Vectors for one (model, adapter, template) namespace under `directory`."""

    def __init__(self, directory: str | Path, model_identity: str,
                 adapter_identity: str = "none", template_identity: str = "raw") -> None:
        for name, value in (("model_identity", model_identity),
                            ("adapter_identity", adapter_identity),
                            ("template_identity", template_identity)):
            if not value:
                raise ValueError(f"VectorCache: {name} must be a non-empty string")
        self.identity = {"model": model_identity, "adapter": adapter_identity,
                         "template": template_identity}
        blob = json.dumps(self.identity, sort_keys=True).encode()
        self.path = Path(directory) / hashlib.sha256(blob).hexdigest()[:20]
        self._keys: dict[bytes, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._loaded_shards: set[str] = set()
        self.stats = CacheStats()

    def __len__(self) -> int:
        self._refresh()
        return len(self._keys)

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """(vectors, found mask): rows of found texts filled; None when nothing is cached."""
        self._refresh()
        rows = np.array([self._keys.get(text_key(t), -1) for t in texts], dtype=np.int64)
        found = rows >= 0
        if not found.any():
            return None, found
        out = np.zeros((len(texts), self._vectors.shape[1]), dtype=np.float32)
        out[found] = self._vectors[rows[found]]
        return out, found

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors for texts (texts already cached are skipped)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"store: expected ({len(texts)}, d) vectors, got {vectors.shape}")
        self._refresh()
        if len(self._keys) and vectors.shape[1] != self._vectors.shape[1]:
            raise ValueError(f"store: vectors have dim {vectors.shape[1]} but this cache holds "
                             f"dim {self._vectors.shape[1]} ({self.path})")
        keys, rows = [], []
        for i, text in enumerate(texts):
            key = text_key(text)
            if key not in self._keys and key not in keys:
                keys.append(key)
                rows.append(i)
        if not keys:
            return
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY_BYTES)
        self._write_shard(key_array, vectors[rows])
        self._refresh()
        if len(self._loaded_shards) > MAX_SHARDS:
            self.compact()

    def encode(self, texts: Sequence[str], encoder: Encoder | Callable[[list[str]], np.ndarray]
               ) -> np.ndarray:
        """Vectors for texts: cached ones read back, only the rest (deduplicated) encoded."""
        texts = list(texts)
        cached, found = self.lookup(texts)
        missing = sorted({texts[i] for i in np.flatnonzero(~found)})
        self.stats = CacheStats(hits=int(found.sum()), misses=len(texts) - int(found.sum()))
        if not missing:
            return cached if cached is not None else np.zeros((0, 0), dtype=np.float32)
        encode = encoder.encode if hasattr(encoder, "encode") else encoder
        new = np.asarray(encode(missing), dtype=np.float32)
        self.store(missing, new)
        fresh = dict(zip(missing, new, strict=True))
        out = cached if cached is not None else np.zeros((len(texts), new.shape[1]), np.float32)
        for i in np.flatnonzero(~found):
            out[i] = fresh[texts[i]]
        return out

    def compact(self) -> None:
        """Merge all shards into one (safe to call any time)."""
        self._refresh()
        old = sorted(self._loaded_shards)
        if len(old) <= 1:
            return
        # Only rows an index entry points at: duplicates written by racing processes go.
        keys = np.frombuffer(b"".join(self._keys), dtype=np.uint8).reshape(-1, KEY_BYTES)
        self._write_shard(keys, self._vectors[list(self._keys.values())])
        for name in old:
            (self.path / name).unlink(missing_ok=True)
        self._keys, self._vectors, self._loaded_shards = {}, self._vectors[:0], set()
        self._refresh()

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "identity.json"
        if not meta.exists():  # human-readable record of what this folder holds
            meta.write_text(json.dumps(self.identity, indent=2) + "\n")
        name = f"shard-{uuid.uuid4().hex}.safetensors"
        tmp = self.path / f".{name}.tmp"
        save_file({"keys": np.ascontiguousarray(keys), "vectors": np.ascontiguousarray(vectors)},
                  str(tmp))
        os.replace(tmp, self.path / name)  # atomic: readers never see half a shard

    def _refresh(self) -> None:
        """Load shards written since the last look (by us or another process)."""
        if not self.path.is_dir():
            return
        new = sorted(p.name for p in self.path.glob("shard-*.safetensors")
                     if p.name not in self._loaded_shards)
        parts = [self._vectors] if len(self._keys) else []
        for name in new:
            try:
                shard = load_file(str(self.path / name))
            except FileNotFoundError:  # merged away by another process meanwhile
                continue
            except Exception as err:  # a damaged file must be named, not crash obscurely
                raise ValueError(f"vector cache shard {self.path / name} is unreadable: {err}"
                                 ) from err
            base = sum(len(p) for p in parts)
            for i, key in enumerate(shard["keys"]):
                self._keys.setdefault(key.tobytes(), base + i)
            parts.append(shard["vectors"])
            self._loaded_shards.add(name)
        if parts and new:
            self._vectors = np.concatenate(parts).astype(np.float32, copy=False)


class CachedEncoder:
    """An encoder wrapped with a VectorCache; same `encode(texts)` interface."""

    def __init__(self, encoder: Encoder, cache: VectorCache) -> None:
        self.encoder, self.cache = encoder, cache

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for texts, encoding only those not in the cache."""
        return self.cache.encode(texts, self.encoder)
