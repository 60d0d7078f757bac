"""Knowledge-graph fusion: the item graph a catalog carries, fused into the item tower's input.

Three kinds of relation: items that share an attribute value (the same category path, the
same brand: item -> attribute -> item, through the attribute's mean vector); links a catalog
lists itself (`[model.items] graph_links`: keys of an item's `attributes` JSON whose value
is a list of related item ids, e.g. complements and substitutes); and, from the training
sequences, the items most often next to it (co-occurrence). An item's LM vector x becomes

    x <- (1 - g) x + g * mean(the neighbour vectors it has)

before the text head (`ItemTowerConfig.graph` = g). Neighbour vectors are means of UNIT LM
vectors, so serving rebuilds the attribute means from an artifact's saved text vectors and
a product added later is fused with its category, brand and listed links the same way (it
has no co-occurrence until a retrain). The free-text search space keeps the raw LM vectors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelflm.models.modality_inputs import attribute_dicts

RELATIONS = ("category", "brand")


def attribute_means(items: pd.DataFrame, unit: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per relation, per non-empty value: the mean unit LM vector of its items."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for relation in RELATIONS:
        values = items[relation].astype(str).to_numpy() if relation in items else None
        if values is None:
            continue
        frame = pd.DataFrame(unit).groupby(values, sort=False).mean()
        out[relation] = {v: row.to_numpy(np.float32) for v, row in frame.iterrows() if v}
    return out


def cooccurrence(sequences: list[np.ndarray], unit: np.ndarray, k: int) -> np.ndarray:
    """(n, d) per item the mean unit vector of the k items most often next to it in the
    sequences (either side); zero rows for items never next to another."""
    out = np.zeros_like(unit)
    pairs = [np.stack([s[:-1], s[1:]], 1) for s in sequences if len(s) > 1]
    if k <= 0 or not pairs:
        return out
    both = np.concatenate(pairs)
    both = both[both[:, 0] != both[:, 1]]
    both = np.concatenate([both, both[:, ::-1]])
    pair, counts = np.unique(both, axis=0, return_counts=True)
    order = np.lexsort((-counts, pair[:, 0]))
    pair = pair[order]
    starts = np.flatnonzero(np.r_[True, pair[1:, 0] != pair[:-1, 0]])
    for start, end in zip(starts, [*starts[1:], len(pair)], strict=True):
        out[pair[start, 0]] = unit[pair[start:min(end, start + k), 1]].mean(0)
    return out


def linked(items: pd.DataFrame, ids: pd.Index, unit: np.ndarray,
           keys: tuple[str, ...]) -> list[np.ndarray]:
    """Per link key, (n, d): each item's mean unit vector over the items its `attributes`
    JSON lists under that key, looked up in `ids` (the rows of `unit`); zero rows for items
    that list none that `ids` holds. Ids may be strings or numbers; anything else under a
    key (not a list) counts as no links."""
    out = [np.zeros((len(items), unit.shape[1]), np.float32) for _ in keys]
    if not keys or "attributes" not in items:
        return out
    for row, attrs in enumerate(attribute_dicts(items)):
        for k, key in enumerate(keys):
            listed = attrs.get(key)
            if not isinstance(listed, list) or not listed:
                continue
            rows = ids.get_indexer([str(v) for v in listed])
            rows = rows[rows >= 0]
            if len(rows):
                out[k][row] = unit[rows].mean(0)
    return out


def fused(items: pd.DataFrame, vectors: np.ndarray, weight: float,
          means: dict[str, dict[str, np.ndarray]],
          extra: list[np.ndarray] = ()) -> np.ndarray:
    """`vectors` mixed with their neighbours' vectors (see the module doc); an item without
    neighbours, or without text (a zero row), stays as it is."""
    if weight <= 0:
        return vectors
    parts = []
    for relation, table in means.items():
        values = items[relation].astype(str).to_numpy()
        parts.append(np.stack([table.get(v, np.zeros(vectors.shape[1], np.float32))
                               for v in values]) if len(values) else
                     np.zeros((0, vectors.shape[1]), np.float32))
    parts.extend(extra)  # one (n, d) array per further relation: links, co-occurrence
    if not parts:
        return vectors
    stack = np.stack(parts)  # (relations, n, d)
    has = np.abs(stack).sum(-1) > 0
    count = has.sum(0)
    neighbours = stack.sum(0) / np.maximum(count, 1)[:, None]
    mix = weight * ((count > 0) & (np.abs(vectors).sum(1) > 0))
    return ((1 - mix)[:, None] * vectors + mix[:, None] * neighbours).astype(np.float32)
