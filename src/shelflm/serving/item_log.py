"""Replaying the store's catalog change log (`ItemChange`s) into a worker's ItemTable and
vector index: how an item added or deleted through one worker, or before a restart, reaches
every worker. Vectors logged under another model version are made again with this one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelflm.data.schema import ITEM_COLUMNS, Catalog
from shelflm.models.modality_inputs import VECTORS_COLUMN
from shelflm.models.serving_model import ServingModel
from shelflm.serving.index import VectorIndex
from shelflm.serving.item_modalities import with_vectors
from shelflm.serving.items import ItemTable
from shelflm.serving.store import ItemChange


def apply_item_changes(model: ServingModel, items: ItemTable, index: VectorIndex,
                       changes: list[ItemChange]) -> None:
    """Apply changes in log order (the table records which existing items changed)."""
    start = 0
    for end in range(1, len(changes) + 1):  # runs of upserts, or of deletes, in order
        if end < len(changes) and changes[end].deleted == changes[start].deleted:
            continue
        run = changes[start:end]
        if run[0].deleted:
            index.remove(items.delete([c.item_id for c in run]))
        else:
            _upsert_run(model, items, index, run)
        start = end


def _upsert_run(model: ServingModel, items: ItemTable, index: VectorIndex,
                run: list[ItemChange]) -> None:
    run = list({c.item_id: c for c in run}.values())  # a later change of an item wins
    # Logged rows hold every catalog column (written from a validated frame), and the
    # item's modality vectors when it was sent with any (serving/item_modalities.py).
    rows = pd.DataFrame([c.row for c in run], columns=list(ITEM_COLUMNS))
    given = [c.row.get(VECTORS_COLUMN) for c in run]
    if all(c.model_version == model.version and c.vector is not None for c in run):
        vectors = np.stack([c.vector for c in run])
        text = np.stack([c.text for c in run])
    else:  # logged under another model (a reload elsewhere, an older artifact)
        rows = Catalog.from_frame(rows, "item log").items
        fresh = ~in_trained_catalog(rows, model.catalog.items)
        rows = rows[fresh].reset_index(drop=True)  # a newer artifact trained on that very row
        if rows.empty:
            return
        given = [v for v, f in zip(given, fresh, strict=True) if f]
        encoded = with_vectors(rows, given) if any(given) else rows
        vectors = model.encode_items(encoded)
        text = model.encode_item_texts(encoded)
    slots = items.upsert(rows, vectors, text)
    index.upsert(slots, items.scored[slots])


def in_trained_catalog(rows: pd.DataFrame, catalog: pd.DataFrame) -> np.ndarray:
    """Which logged rows equal the model's own catalog row of the same item, field by field."""
    merged = rows.merge(catalog, on="item_id", how="left", suffixes=("", "_trained"),
                        indicator=True)
    same = (merged["_merge"] == "both").to_numpy().copy()
    for col in ITEM_COLUMNS:
        if col != "item_id":
            a, b = merged[col], merged[f"{col}_trained"]
            same = same & ((a == b) | (a.isna() & b.isna())).fillna(False).to_numpy(bool)
    return same
