"""faiss backends: exact inner product (IndexIDMap2 over IndexFlatIP) and HNSW with tombstones."""

from __future__ import annotations

import faiss
import numpy as np

from shelflm.serving.config import IndexConfig

# Serving answers one query at a time: OpenMP start-up costs more than it saves there,
# and the HTTP workers already use the cores.
faiss.omp_set_num_threads(1)
_FEW_BLOCKED = 64  # filters hiding at most this many keys are applied after retrieval


def _check(keys: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape != (len(keys), dim):
        raise ValueError(f"vectors: expected shape ({len(keys)}, {dim}), got {vectors.shape}")
    if len(np.unique(keys)) != len(keys):
        raise ValueError("keys: duplicates in one upsert")
    if (keys < 0).any():
        raise ValueError("keys: must be >= 0")
    return keys, vectors


def _selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray]:
    """A bitmap selector over ids 0..len(allowed)-1; the packed bits must outlive the search."""
    bits = np.packbits(allowed.astype(bool), bitorder="little")
    return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits  # size in bytes


def _finish(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = labels >= 0  # faiss pads with -1 when fewer than k match
    return labels[keep], scores[keep]


class ExactFaissIndex:
    """Exact inner-product search; add, replace and remove in place (no rebuild)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._max_key = -1  # keys past a filter mask's end are blocked, and uncounted there

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def upsert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under keys, replacing existing ones."""
        keys, vectors = _check(keys, vectors, self.dim)
        if len(keys) == 0:
            return
        self._index.remove_ids(faiss.IDSelectorBatch(keys))
        self._index.add_with_ids(vectors, keys)
        self._max_key = max(self._max_key, int(keys.max()))

    def remove(self, keys: np.ndarray) -> int:
        """Drop keys; returns how many were present."""
        keys = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
        return int(self._index.remove_ids(faiss.IDSelectorBatch(keys))) if len(keys) else 0

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k, optionally restricted to keys where `allowed` is True."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if allowed is None:
            scores, labels = self._index.search(q, k)
            return _finish(labels[0], scores[0])
        blocked = len(allowed) - int(np.count_nonzero(allowed))
        if blocked <= _FEW_BLOCKED and self._max_key < len(allowed):
            # Typical request: only a user's purchases are filtered out. Over-fetching past
            # them is cheaper than a selector, which faiss checks once per stored vector.
            scores, labels = self._index.search(q, min(k + blocked, len(self)))
            labels, scores = _finish(labels[0], scores[0])
            inside = labels < len(allowed)
            keep = inside & allowed[np.where(inside, labels, 0)]
            return labels[keep][:k], scores[keep][:k]
        sel, _bits = _selector(allowed)
        scores, labels = self._index.search(q, k, params=faiss.SearchParameters(sel=sel))
        return _finish(labels[0], scores[0])


class HnswFaissIndex:
    """Approximate search on an HNSW graph; HNSW cannot delete, so removal leaves tombstones
    that a selector hides, and the graph is rebuilt once too many rows are dead."""

    def __init__(self, dim: int, config: IndexConfig | None = None) -> None:
        self.dim = dim
        self.config = config or IndexConfig(kind="hnsw")
        self._reset()

    def _reset(self) -> None:
        index = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.config.ef_construction
        self._index = index
        self._row_key = np.empty(0, np.int64)  # graph row -> key
        self._row_live = np.empty(0, bool)
        self._key_row: dict[int, int] = {}
        self._vectors = np.empty((0, self.dim), np.float32)  # kept for rebuilds and exact scans

    def __len__(self) -> int:
        return len(self._key_row)

    def upsert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under keys; a replaced key's old row becomes a tombstone."""
        keys, vectors = _check(keys, vectors, self.dim)
        if len(keys) == 0:
            return
        self._kill(keys)
        start = len(self._row_key)
        self._index.add(vectors)
        self._row_key = np.concatenate([self._row_key, keys])
        self._row_live = np.concatenate([self._row_live, np.ones(len(keys), bool)])
        self._vectors = np.concatenate([self._vectors, vectors])
        self._key_row.update(zip(keys.tolist(), range(start, start + len(keys)), strict=True))
        self._maybe_rebuild()

    def remove(self, keys: np.ndarray) -> int:
        """Tombstone keys; returns how many were present."""
        removed = self._kill(np.asarray(keys, dtype=np.int64).reshape(-1))
        self._maybe_rebuild()
        return removed

    def _kill(self, keys: np.ndarray) -> int:
        rows = [self._key_row.pop(int(k)) for k in keys if int(k) in self._key_row]
        self._row_live[rows] = False
        return len(rows)

    def _maybe_rebuild(self) -> None:
        rows = len(self._row_key)
        if rows and (rows - len(self)) / rows > self.config.rebuild_dead_fraction:
            live = self._row_live
            keys, vectors = self._row_key[live], self._vectors[live]
            self._reset()
            if len(keys):
                self.upsert(keys, vectors)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k over live rows (exact scan when the filter leaves few rows)."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        mask = self._row_live.copy()
        if allowed is not None:
            keys = self._row_key
            inside = keys < len(allowed)
            mask &= inside & allowed[np.where(inside, keys, 0)]
        n_allowed = int(mask.sum())
        k = min(k, n_allowed)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if n_allowed < self.config.exact_below_allowed * len(mask) or n_allowed <= 4 * k:
            # A graph walk through a sparse filter misses items; few rows scan exactly, fast.
            rows = np.flatnonzero(mask)
            scores = self._vectors[rows] @ q[0]
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return self._row_key[rows[top]], scores[top].astype(np.float32)
        ef = max(self.config.ef_search, k)
        if n_allowed == len(mask):  # nothing to hide: skip the per-node selector check
            params = faiss.SearchParametersHNSW(efSearch=ef)
            scores, rows = self._index.search(q, k, params=params)
        else:
            sel, _bits = _selector(mask)
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
            scores, rows = self._index.search(q, k, params=params)
        rows, scores = _finish(rows[0], scores[0])
        return self._row_key[rows], scores
