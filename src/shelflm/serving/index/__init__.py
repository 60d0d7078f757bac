"""Vector search behind an interface: item vectors keyed by int64 slots, filtered top-k search.

String item ids are mapped to slots by the engine's `ItemTable`; an index only sees slots,
so a filter is a boolean mask over slots that numpy builds cheaply per request.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from shelflm.serving.config import IndexConfig
from shelflm.serving.index.faiss_index import ExactFaissIndex, HnswFaissIndex


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product top-k over item vectors that can change while serving."""

    dim: int

    def __len__(self) -> int:
        """Number of live (searchable) vectors."""

    def upsert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under int64 keys, replacing the vectors of keys already present."""

    def remove(self, keys: np.ndarray) -> int:
        """Drop keys (unknown ones are ignored); returns how many were removed."""

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (keys, scores) for one (dim,) query, best first; `allowed` masks keys."""


WIDTH_UNIT = 64  # IndexConfig.hnsw_above counts items of this width


def make_index(config: IndexConfig, dim: int, expected_size: int) -> VectorIndex:
    """The index `config` asks for; `auto` picks HNSW once an exact scan costs more than one
    over `hnsw_above` items of 64-wide vectors (the scan's cost is items x width)."""
    kind = config.kind
    if kind == "auto":
        kind = "hnsw" if expected_size * dim > config.hnsw_above * WIDTH_UNIT else "exact"
    if kind == "hnsw":
        return HnswFaissIndex(dim, config)
    return ExactFaissIndex(dim)
