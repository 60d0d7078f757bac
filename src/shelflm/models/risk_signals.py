"""What the behaviour model itself says about a user: how surprising each of their events
was to it (the log-likelihood of the next event given the ones before, and its trend) and
how far their vector sits from real shoppers'. Works through the ServingModel contract, so
any served model (an ensemble, an ONNX tower) gives the same signals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelflm.data.behaviour import BehaviourReference, behaviour_features
from shelflm.data.schema import EVENT_TYPES
from shelflm.models.risk_config import RiskConfig

MODEL_FEATURES: dict[str, str] = {
    "surprise": "how unexpected the events are to the behaviour model",
    "surprise_trend": "how much more unexpected the recent events are",
    "vector_distance": "distance of the user's vector from real shoppers'",
}


@dataclass
class ModelView:
    """The item vectors a user's history is read with, and the model's user tower."""

    slot_of: Callable[[str], int]  # item id -> row (-1: unknown)
    vectors: np.ndarray  # (N, dim) the user tower's inputs
    scored: np.ndarray  # (N, score_dim) what a user vector is scored against
    user_vector: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @classmethod
    def of(cls, model: object) -> ModelView:
        """The view of a ServingModel over its own catalog."""
        ids = model.catalog.items["item_id"].astype(str)  # type: ignore[attr-defined]
        index = {item: i for i, item in enumerate(ids)}
        vectors = np.asarray(model.item_vectors, np.float32)  # type: ignore[attr-defined]
        score_dim = getattr(model, "score_dim", vectors.shape[1])
        return cls(lambda item: index.get(item, -1), vectors, vectors[:, :score_dim],
                   model.user_vector)  # type: ignore[attr-defined]


def _log_softmax_at(logits: np.ndarray, target: int) -> float:
    top = logits.max()
    return float(logits[target] - top - np.log(np.exp(logits - top).sum()))


def user_signals(view: ModelView, items: list[str], events: np.ndarray,
                 positions: int) -> tuple[float, float, np.ndarray | None]:
    """(surprise, surprise trend, unit user vector or None) of one time-ordered history.
    Surprise is the mean of -log p(next item | history before it) - log N over up to
    `positions` evenly spaced positions (0: as likely as a uniform guess; higher: more
    surprising); the trend is the later half's mean minus the earlier half's."""
    slots = np.array([view.slot_of(i) for i in items], np.int64)
    known = slots >= 0
    slots, events = slots[known], np.asarray(events, np.int64)[known]
    if len(slots) == 0:
        return 0.0, 0.0, None
    user = np.asarray(view.user_vector(view.vectors[slots], events), np.float32)
    norm = float(np.linalg.norm(user))
    unit = user / norm if norm > 0 else None
    if positions <= 0 or len(slots) < 2:
        return 0.0, 0.0, unit
    at = np.unique(np.linspace(1, len(slots) - 1, positions).round().astype(int))
    log_n = np.log(len(view.scored))
    surprise = np.empty(len(at))
    for j, p in enumerate(at):
        u = np.asarray(view.user_vector(view.vectors[slots[:p]], events[:p]), np.float32)
        logits = view.scored @ u[: view.scored.shape[1]]
        surprise[j] = -_log_softmax_at(logits, int(slots[p])) - log_n
    half = len(surprise) // 2
    trend = float(surprise[half:].mean() - surprise[:half].mean()) if half else 0.0
    return float(surprise.mean()), trend, unit


def vector_distance(users: np.ndarray, reference: np.ndarray, k: int,
                    exclude_self: bool = False) -> np.ndarray:
    """1 - mean cosine of each unit user vector (rows; zero rows: 1.0) to its `k` nearest
    reference vectors; `exclude_self` when `users` are rows of `reference` themselves."""
    if len(reference) == 0 or len(users) == 0:
        return np.ones(len(users))
    sims = users @ reference.T
    take = min(k + int(exclude_self), sims.shape[1])
    top = -np.sort(-sims, axis=1)[:, :take]
    if exclude_self and take > 1:
        top = top[:, 1:]
    out = 1.0 - top.mean(axis=1)
    out[~np.any(users, axis=1)] = 1.0
    return out


def recent_window(events: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each user's last `window` events, sorted by user then time."""
    frame = events.assign(user_id=events["user_id"].astype(str),
                          item_id=events["item_id"].astype(str))
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
    return frame.groupby("user_id", sort=False).tail(window)


def user_features(events: pd.DataFrame, ref: BehaviourReference, view: ModelView | None,
                  config: RiskConfig, reference_vectors: np.ndarray | None,
                  ) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """(features per user: behaviour then model columns, events per user, unit user vectors
    (zero rows: none)) of the users of `events`, each read over their last `window` events.
    `reference_vectors` None: the users are the reference themselves (calibration)."""
    frame = recent_window(events, config.window)
    own = reference_vectors is None  # calibration: these users made `ref` themselves
    features = behaviour_features(frame, ref, in_reference=own)
    counts = frame.groupby("user_id").size()
    dim = view.vectors.shape[1] if view is not None else 0
    units = np.zeros((len(features), dim), np.float32)
    if view is None:
        return features.assign(**dict.fromkeys(MODEL_FEATURES, 0.0)), counts, units
    index = {e: i for i, e in enumerate(EVENT_TYPES)}
    signals = np.zeros((len(features), 2))
    for row, (_, rows) in enumerate(frame.groupby("user_id", sort=True)):
        kinds = np.array([index.get(str(e), 0) for e in rows["event"]], np.int64)
        surprise, trend, unit = user_signals(view, rows["item_id"].tolist(), kinds,
                                             config.positions)
        signals[row] = surprise, trend
        if unit is not None:
            units[row] = unit
    reference = units[np.any(units, axis=1)] if own else reference_vectors
    features["surprise"], features["surprise_trend"] = signals[:, 0], signals[:, 1]
    features["vector_distance"] = vector_distance(units, reference, config.neighbours, own)
    return features, counts, units
