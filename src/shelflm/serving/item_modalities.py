"""A served model's extra item modalities (images, numbers, a second text): what PUT /items
may carry, the checks on it, and the raw inputs of new items (torch-free).

Vectors travel with catalog rows as the frame's VECTORS_COLUMN (models/modality_inputs.py):
per row a {modality name: [floats]} dict, or None. PUT /items replaces an item whole, so an
item sent without a modality's vector is encoded without it (its gated part is zero), as a
field left out of the request is empty. In the item log the dict rides in the row under the
same key, so a worker replaying the log encodes the item exactly as the one that took it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from shelflm.models.modality_config import ModalityConfig
from shelflm.models.modality_inputs import VECTORS_COLUMN
from shelflm.serving.errors import RequestError


def vector_widths(modalities: Sequence[ModalityConfig]) -> dict[str, int]:
    """{name: width} of the vector modalities, the ones a request may carry."""
    return {m.name: m.width for m in modalities if m.kind == "vector"}


def check_vectors(frame: pd.DataFrame, widths: Mapping[str, int]) -> list[dict | None]:
    """Each row's {name: float32 vector} (None: none given), checked against the model's
    vector modalities; RequestError naming items[i].vectors.NAME on an unknown name, a wrong
    width or a value that is not a finite number."""
    if VECTORS_COLUMN not in frame.columns:
        return [None] * len(frame)
    out: list[dict | None] = []
    for i, given in enumerate(frame[VECTORS_COLUMN].tolist()):
        if given is None or (isinstance(given, float) and math.isnan(given)) or given == {}:
            out.append(None)
            continue
        if not isinstance(given, Mapping):
            raise RequestError(f"items[{i}].vectors", "expected an object of name: [numbers]")
        out.append({name: _checked(i, name, value, widths) for name, value in given.items()})
    return out


def _checked(i: int, name: object, value: object, widths: Mapping[str, int]) -> np.ndarray:
    """One item's vector of modality `name` as float32, or RequestError naming it."""
    where = f"items[{i}].vectors.{name}"
    if name not in widths:
        known = ", ".join(sorted(widths)) or "none: the model was trained on text alone"
        raise RequestError(where, f"unknown modality {name!r}; this model's vector "
                           f"modalities: {known}")
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | np.ndarray):
        raise RequestError(where, "expected a list of numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float | np.number) for v in value):
        raise RequestError(where, "expected a list of numbers")
    vector = np.asarray(value, np.float64)
    if vector.shape != (widths[name],):
        raise RequestError(where, f"has {len(vector)} values; the model's {name!r} vectors "
                           f"have {widths[name]}")
    if not np.isfinite(vector).all():
        raise RequestError(where, f"value {int(np.flatnonzero(~np.isfinite(vector))[0])} is "
                           "not a finite number")
    if np.abs(vector).max(initial=0) > 3.0e38:
        raise RequestError(where, "values must fit a float32")
    return vector.astype(np.float32)


def logged_vectors(vectors: dict | None) -> dict[str, list[float]] | None:
    """An item's checked vectors as plain lists for the item log's JSON row."""
    if not vectors:
        return None
    return {name: [float(x) for x in v] for name, v in vectors.items()}


def with_vectors(rows: pd.DataFrame, vectors: Sequence[dict | None]) -> pd.DataFrame:
    """Catalog rows with VECTORS_COLUMN set (a copy; the rows themselves stay catalog rows)."""
    return rows.assign(**{VECTORS_COLUMN: pd.Series(list(vectors), index=rows.index,
                                                    dtype=object)})


def saved_vectors(ids: Sequence[str], known: Mapping[str, int],
                  inputs: Mapping[str, np.ndarray] | None,
                  modalities: Sequence[ModalityConfig]) -> list[dict | None]:
    """Per id, the artifact's saved vector-modality rows of that item (by `known` id -> row),
    None where it has none: how another catalog's items keep their images (`on_catalog`)."""
    names = [m.name for m in modalities if m.kind == "vector"]
    out: list[dict | None] = []
    for item in ids:
        row = known.get(str(item))
        given = {} if row is None or not inputs else {
            n: inputs[n][row] for n in names if np.isfinite(inputs[n][row]).all()}
        out.append(given or None)
    return out


def realigned(inputs: Mapping[str, np.ndarray] | None, known: Mapping[str, int],
              ids: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The saved inputs re-ordered to `ids` (NaN rows for ids the artifact did not have)."""
    if inputs is None:
        return None
    rows = np.array([known.get(str(i), -1) for i in ids], np.int64)
    out = {}
    for name, x in inputs.items():
        moved = np.full((len(ids), x.shape[1]), np.nan, np.float32)
        moved[rows >= 0] = x[rows[rows >= 0]]
        out[name] = moved
    return out
