"""New or changed products made ready for the item log: checked, encoded by the serving model
and packed as ItemChanges. The slow part of an upsert, run outside the engine's lock.

A frame may carry VECTORS_COLUMN (per row {modality name: [floats]}, PUT /items' `vectors`):
checked against the model's vector modalities, handed to it with the rows, and logged in the
row under the same key so other workers encode the item alike (serving/item_modalities.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelflm.data.errors import DataError
from shelflm.data.schema import Catalog
from shelflm.models.modality_inputs import VECTORS_COLUMN
from shelflm.models.serving_model import ServingModel
from shelflm.serving.errors import BLANK, RequestError, blank_texts
from shelflm.serving.item_modalities import check_vectors, logged_vectors, with_vectors
from shelflm.serving.store import ItemChange


@dataclass
class EncodedItems:
    """Catalog rows with their vectors under one model, and the log entries made of them."""

    rows: pd.DataFrame
    vectors: np.ndarray
    text: np.ndarray
    changes: list[ItemChange]


def encode_items(model: ServingModel, frame: pd.DataFrame) -> EncodedItems:
    """Check `frame` as catalog rows and encode them; bad rows raise RequestError."""
    try:
        rows = Catalog.from_frame(frame, "items").items
    except DataError as exc:
        where = f" (row {exc.line})" if exc.line is not None else ""
        raise RequestError(exc.field or "items", exc.reason + where) from exc
    _check_titles(rows)
    # A model without the attribute (a test double, an ensemble) has no vector modalities.
    given = check_vectors(frame.reset_index(drop=True),
                          getattr(model, "vector_modalities", None) or {})
    # The model reads the vectors from the frame it is given; the engine indexes plain rows.
    encoded = with_vectors(rows, given) if any(v is not None for v in given) else rows
    vectors = model.encode_items(encoded)
    text = model.encode_item_texts(encoded)
    records = _json_records(rows)
    for record, item_vectors in zip(records, given, strict=True):
        if item_vectors is not None:
            record[VECTORS_COLUMN] = logged_vectors(item_vectors)
    changes = [ItemChange(str(r["item_id"]), False, r, model.version, vectors[i], text[i])
               for i, r in enumerate(records)]
    return EncodedItems(rows, vectors, text, changes)


def _check_titles(rows: pd.DataFrame) -> None:
    """RequestError naming the first item whose title shows nothing: its text would be empty
    (the whole batch is refused before anything is logged)."""
    blank = blank_texts(rows["title"]).to_numpy()
    if blank.any():
        i = int(blank.argmax())
        raise RequestError(f"items[{i}].title", f"item {rows['item_id'].iloc[i]!r}: title is "
                           + BLANK)


def _json_records(rows: pd.DataFrame) -> list[dict]:
    """Catalog rows as plain dicts for the item log, missing values as None (JSON null)."""
    return [{k: None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
             for k, v in r.items()} for r in rows.to_dict("records")]
