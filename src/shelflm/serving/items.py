"""The serving catalog: string item ids mapped to int slots, with the per-item arrays that
filters, explanations and popularity read. Slots are never reused, so a key is stable."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from shelflm.data.schema import CATEGORY_SEPARATOR

_MAX_CACHED_PREFIXES = 256


def _in_stock(attributes: str) -> bool:
    """An item is in stock unless its attributes JSON says {"in_stock": false}."""
    if not attributes or "in_stock" not in attributes:
        return True
    try:
        return bool(json.loads(attributes).get("in_stock", True))
    except (ValueError, AttributeError):
        return True


class ItemTable:
    """Per-slot arrays (vectors, text vectors, category, price, stock, liveness); the vectors
    are also the user tower's inputs (a history is the vectors of its items). Only their
    first `score_dim` columns score (`scored`: what the index holds); the rest, where a model
    has any (serving/ensemble.py), are inputs of the user tower alone."""

    def __init__(self, dim: int, d_text: int, score_dim: int | None = None) -> None:
        self.dim, self.d_text = dim, d_text
        self.score_dim = dim if score_dim is None else score_dim
        if not 0 < self.score_dim <= dim:
            raise ValueError(f"ItemTable: score_dim must be in [1, {dim}], got {score_dim}")
        self.ids: list[str] = []
        self.slot_of: dict[str, int] = {}
        self.titles: list[str] = []
        self.categories: list[str] = []
        self.brands: list[str] = []  # the assistant's "not that brand"
        self.leaf = np.empty(0, object)
        self.vectors = np.empty((0, dim), np.float32)
        self.text = np.empty((0, d_text), np.float32)  # unit LM vectors: free-text search
        self.price = np.empty(0, np.float64)
        self.in_stock = np.empty(0, bool)
        self.alive = np.empty(0, bool)
        self.popularity = np.empty(0, np.float64)
        self.norms = np.empty(0, np.float32)
        # Per slot, `clock` when the item last changed or went: a user state computed at an
        # earlier clock from a history holding it is stale; others stay valid.
        self.changed = np.empty(0, np.int64)
        self.clock = 0
        self._prefix_masks: dict[str, np.ndarray] = {}
        self._buffers: dict[str, np.ndarray] = {}  # backing storage with room to grow

    def _extend(self, name: str, grow: int) -> None:
        """Append `grow` zero rows to a big per-slot array, in place while its buffer has
        room: adding items one by one must not copy the whole catalog's vectors each time."""
        current = getattr(self, name)
        n = len(current) + grow
        buffer = self._buffers.get(name)
        if buffer is None or len(buffer) < n or current.base is not buffer:
            buffer = np.zeros((max(n, len(current) * 3 // 2 + 256), current.shape[1]),
                              np.float32)
            buffer[: len(current)] = current
            self._buffers[name] = buffer
        setattr(self, name, buffer[:n])  # rows past the old end were never written: zeros

    def __len__(self) -> int:
        return int(self.alive.sum())

    @property
    def size(self) -> int:
        """Number of slots ever assigned (live or deleted)."""
        return len(self.ids)

    def upsert(self, frame: pd.DataFrame, vectors: np.ndarray, text: np.ndarray) -> np.ndarray:
        """Insert or replace items (rows with ITEM_COLUMNS) and their vectors; returns slots."""
        ids = frame["item_id"].astype(str).tolist()
        slots = np.empty(len(ids), np.int64)
        new = [i for i, item in enumerate(ids) if item not in self.slot_of]
        self.touch(np.array([self.slot_of[item] for item in ids if item in self.slot_of],
                            np.int64))
        grow = len(new)
        # The first fill from an artifact's memory maps keeps them (copy-on-write, private to
        # this process): worker processes share those pages instead of holding a copy each.
        adopt = not self.ids and grow == len(ids) and len(ids) > 0 and all(
            isinstance(a, np.memmap) and a.dtype == np.float32 for a in (vectors, text))
        if grow:
            start = len(self.ids)
            for j, i in enumerate(new):
                self.slot_of[ids[i]] = start + j
                self.ids.append(ids[i])
            self.titles.extend([""] * grow)
            self.categories.extend([""] * grow)
            self.brands.extend([""] * grow)
            self.leaf = np.concatenate([self.leaf, np.full(grow, "", object)])
            if adopt:
                # Plain ndarray views: memmap's subclass hooks cost on every hot-path op.
                self.vectors, self.text = np.asarray(vectors), np.asarray(text)
            else:
                for name in ("vectors", "text"):
                    self._extend(name, grow)
            self.price = np.concatenate([self.price, np.full(grow, np.nan)])
            self.in_stock = np.concatenate([self.in_stock, np.ones(grow, bool)])
            self.alive = np.concatenate([self.alive, np.zeros(grow, bool)])
            self.popularity = np.concatenate([self.popularity, np.zeros(grow)])
            self.norms = np.concatenate([self.norms, np.ones(grow, np.float32)])
            self.changed = np.concatenate([self.changed, np.zeros(grow, np.int64)])
        for i, item in enumerate(ids):
            slots[i] = self.slot_of[item]
        titles = frame["title"].fillna("").astype(str).tolist()
        cats = frame["category"].fillna("").astype(str).tolist()
        attrs = frame["attributes"].fillna("").astype(str).tolist()
        brands = frame["brand"].fillna("").astype(str).tolist() if "brand" in frame else None
        for i, s in enumerate(slots.tolist()):
            self.titles[s], self.categories[s] = titles[i], cats[i]
            self.leaf[s] = cats[i].split(CATEGORY_SEPARATOR)[-1] if cats[i] else ""
            self.in_stock[s] = _in_stock(attrs[i])
            if brands is not None:
                self.brands[s] = brands[i]
        self.price[slots] = pd.to_numeric(frame["price"], errors="coerce").to_numpy(np.float64)
        if not adopt:  # writing adopted maps onto themselves would copy every page
            self.vectors[slots] = vectors
            self.text[slots] = text
        norms = np.linalg.norm(self.scored[slots], axis=1)
        self.norms[slots] = np.where(norms > 0, norms, 1.0)  # explanations divide by these
        self.alive[slots] = True
        self._prefix_masks.clear()
        return slots

    @property
    def scored(self) -> np.ndarray:
        """The scoring columns of every slot's vector (a view)."""
        return self.vectors[:, :self.score_dim]

    def delete(self, ids: list[str]) -> np.ndarray:
        """Mark items deleted; returns the slots of those that were live."""
        slots = np.array([self.slot_of[i] for i in ids if i in self.slot_of], np.int64)
        slots = slots[self.alive[slots]] if len(slots) else slots
        self.alive[slots] = False
        self.text[slots] = 0.0  # a deleted item matches no query, whatever mask is used
        self.touch(slots)
        return slots

    def touch(self, slots: np.ndarray) -> None:
        """Record that these items changed or went (no-op for none)."""
        if len(slots):
            self.clock += 1
            self.changed[slots] = self.clock

    def stale(self, slots: np.ndarray, clock: int) -> bool:
        """Whether any of these items changed or went after `clock`."""
        return changed_after(self.changed, slots, clock)

    def slot(self, item_id: str) -> int:
        """Slot of a live item, or -1."""
        s = self.slot_of.get(item_id, -1)
        return s if s >= 0 and self.alive[s] else -1

    def category_mask(self, prefix: str) -> np.ndarray:
        """Slots whose category path equals `prefix` or lies under it (cached per prefix)."""
        mask = self._prefix_masks.get(prefix)
        if mask is None:
            below = prefix + CATEGORY_SEPARATOR
            mask = np.fromiter(
                (c == prefix or c.startswith(below) for c in self.categories), bool,
                count=len(self.categories))
            if len(self._prefix_masks) >= _MAX_CACHED_PREFIXES:
                self._prefix_masks.clear()
            self._prefix_masks[prefix] = mask
        return mask


def changed_after(changed: np.ndarray, slots: np.ndarray, clock: int) -> bool:
    """Whether any of `slots` changed after `clock` by `changed` (ItemTable.changed or a copy
    of it)."""
    return bool(len(slots)) and int(changed[slots].max()) > clock
