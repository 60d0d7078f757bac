"""VectorCache: hits and misses counted by encoder calls, changed text re-encoded only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelflm.encoders.cache import CachedEncoder, VectorCache


class CountingEncoder:
    """A deterministic fake encoder that records every text it was asked to encode."""

    def __init__(self, dim: int = 4) -> None:
        self.dim, self.calls, self.seen = dim, 0, []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.seen.extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).random(self.dim) for t in texts]
        return np.asarray(rng, dtype=np.float32).reshape(len(texts), self.dim)


def _cache(tmp_path: Path, **ids: str) -> VectorCache:
    return VectorCache(tmp_path / "cache", ids.get("model", "m@1"),
                       ids.get("adapter", "none"), ids.get("template", "title@1"))


def test_second_run_hits_and_changed_text_only_is_encoded(tmp_path: Path) -> None:
    enc = CountingEncoder()
    catalog = ["lipstick red", "shampoo", "eyeliner", "shampoo"]
    first = _cache(tmp_path).encode(catalog, enc)
    assert enc.seen == ["eyeliner", "lipstick red", "shampoo"]  # duplicates encoded once
    np.testing.assert_array_equal(first[1], first[3])

    # A fresh cache object (a new process) over the same directory: all hits.
    cache = _cache(tmp_path)
    again = cache.encode(catalog, enc)
    assert enc.calls == 1 and (cache.stats.hits, cache.stats.misses) == (4, 0)
    np.testing.assert_array_equal(again, first)

    catalog[2] = "eyeliner waterproof"  # one item's text changed
    updated = cache.encode(catalog, enc)
    assert enc.calls == 2 and enc.seen[-1:] == ["eyeliner waterproof"]
    assert (cache.stats.hits, cache.stats.misses) == (3, 1)
    np.testing.assert_array_equal(updated[[0, 1, 3]], first[[0, 1, 3]])
    np.testing.assert_array_equal(updated[2], enc.encode(["eyeliner waterproof"])[0])


def test_namespaces_are_separate(tmp_path: Path) -> None:
    enc = CountingEncoder()
    _cache(tmp_path).encode(["a", "b"], enc)
    for other in ({"model": "m@2"}, {"adapter": "lora@x"}, {"template": "full@1"}):
        cache = _cache(tmp_path, **other)
        cache.encode(["a", "b"], enc)
        assert cache.stats.misses == 2
    assert enc.calls == 4


def test_storage_is_safetensors_and_compacts(tmp_path: Path) -> None:
    enc = CountingEncoder()
    cache = CachedEncoder(enc, _cache(tmp_path))
    for i in range(20):  # one shard per call, merged past MAX_SHARDS
        cache.encode([f"item {i}"])
    files = sorted(p.suffix for p in cache.cache.path.iterdir())
    assert set(files) == {".json", ".safetensors"} and files.count(".safetensors") <= 16
    assert len(cache.cache) == 20
    cache.cache.compact()
    assert len(list(cache.cache.path.glob("*.safetensors"))) == 1
    out = _cache(tmp_path).encode([f"item {i}" for i in range(20)], enc)
    assert enc.calls == 20 and out.shape == (20, 4)


def test_bad_input_named(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.store(["a"], np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="dim 3 but this cache holds dim 4"):
        cache.store(["b"], np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="expected"):
        cache.store(["c", "d"], np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="model_identity"):
        VectorCache(tmp_path, "")
    next(cache.path.glob("*.safetensors")).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable"):
        len(_cache(tmp_path))
