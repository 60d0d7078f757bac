"""The raw inputs of an item's extra modalities, read from catalog rows (torch-free).

One float32 matrix per modality, row i for catalog row i, NaN marking what an item lacks: a
whole NaN row for a vector or text modality it does not have, a NaN entry for a numeric field
it does not state. The item tower (models/modality_fusion.py) turns NaN into a presence mask
and a zero contribution, so nothing downstream ever sees a NaN.

Where each kind comes from:
- vector: a file (data/modality_files.py) when training; for new items (PUT /items,
  `LoadedShelfModel.encode_items`) the frame's optional VECTORS_COLUMN, one {name: vector}
  dict (or None) per row.
- text: a catalog column or a key of the `attributes` JSON (a list joins with ", "), encoded
  by the same LM as the item text but on its own.
- numeric: catalog columns (price) or attributes keys (rating), as numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from shelflm.data.schema import ITEM_COLUMNS
from shelflm.models.modality_config import ModalityConfig

VECTORS_COLUMN = "vectors"
"""Optional column of a new-items frame: per row a {modality name: vector} dict or None."""

TextEncode = Callable[[list[str]], np.ndarray]


def attribute_dicts(items: pd.DataFrame) -> list[dict]:
    """Each row's attributes JSON as a dict ({} when empty, not JSON or not an object)."""
    out = []
    for raw in items["attributes"].fillna("").astype(str) if "attributes" in items else []:
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            value = {}
        out.append(value if isinstance(value, dict) else {})
    return out or [{} for _ in range(len(items))]


def field_values(items: pd.DataFrame, name: str, attributes: list[dict] | None = None
                 ) -> list[object]:
    """Per row: the catalog column `name`, else the attributes JSON key `name` (None if absent)."""
    if name in ITEM_COLUMNS and name != "attributes":
        if name not in items.columns:
            return [None] * len(items)
        return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else v for v in items[name].tolist()]
    attributes = attribute_dicts(items) if attributes is None else attributes
    return [a.get(name) for a in attributes]


def _number(value: object) -> float:
    """A value as a finite float, NaN when it is none (text such as "4.5" counts)."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def numeric_inputs(items: pd.DataFrame, config: ModalityConfig) -> np.ndarray:
    """(n, len(fields)) float32 of the numeric fields, NaN where missing or not a number."""
    attributes = attribute_dicts(items)
    columns = [[_number(v) for v in field_values(items, f, attributes)] for f in config.fields]
    return np.ascontiguousarray(np.asarray(columns, np.float32).reshape(
        len(config.fields), len(items)).T)


def field_texts(items: pd.DataFrame, config: ModalityConfig) -> list[str]:
    """Per row the text of a text modality's source ("" when the item has none)."""
    out = []
    for value in field_values(items, config.source):
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value if v is not None)
        out.append("" if value is None else str(value).strip())
    return out


def text_inputs(items: pd.DataFrame, config: ModalityConfig, encode: TextEncode) -> np.ndarray:
    """(n, d_lm) LM vectors of a text modality, NaN rows for items without that text."""
    texts = field_texts(items, config)
    if not texts:
        return np.zeros((0, config.width), np.float32)
    # The encoder does not run an empty text (its row is zero); NaN marks it missing here.
    out = np.array(encode(texts), dtype=np.float32, copy=True).reshape(len(texts), -1)
    out[np.array([not t for t in texts], dtype=bool)] = np.nan
    return out


def frame_vectors(items: pd.DataFrame, config: ModalityConfig) -> np.ndarray:
    """(n, width) vectors of a vector modality from the frame's VECTORS_COLUMN (NaN rows for
    items without it, or with a vector of another width)."""
    out = np.full((len(items), config.width), np.nan, np.float32)
    if VECTORS_COLUMN not in items.columns:
        return out
    for i, given in enumerate(items[VECTORS_COLUMN].tolist()):
        vector = given.get(config.name) if isinstance(given, dict) else None
        vector = None if vector is None else np.asarray(vector, np.float32)
        # Requests are checked before this (serving/item_modalities.py); a logged vector of
        # another width (made for an older model) counts as missing, not as a failed replay.
        if vector is not None and vector.shape == (config.width,):
            out[i] = vector
    return out


def modality_inputs(items: pd.DataFrame, modalities: Sequence[ModalityConfig],
                    encode: TextEncode | None = None,
                    vectors: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """{name: (n, width) raw input} of every modality for catalog rows `items`; `vectors`
    gives vector modalities' aligned rows (training), else the frame's VECTORS_COLUMN."""
    out = {}
    for config in modalities:
        if config.kind == "numeric":
            out[config.name] = numeric_inputs(items, config)
        elif config.kind == "text":
            if encode is None:
                raise ValueError(f"modality {config.name}: a text modality needs the LM")
            out[config.name] = text_inputs(items, config, encode)
        elif vectors is not None and config.name in vectors:
            out[config.name] = np.asarray(vectors[config.name], np.float32)
        else:
            out[config.name] = frame_vectors(items, config)
    return out


def present_rows(inputs: np.ndarray) -> np.ndarray:
    """Per row: has any finite value (the item carries the modality)."""
    return np.isfinite(inputs).any(axis=1) if inputs.size else np.zeros(len(inputs), bool)
