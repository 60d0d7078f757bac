"""Fitting the risk model on a shop's training events (scoring: models/risk.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shelflm.data.behaviour import BehaviourReference
from shelflm.data.schema import INTERACTION_COLUMNS, Catalog
from shelflm.models.risk import Calibration, RiskModel
from shelflm.models.risk_config import RiskConfig
from shelflm.models.risk_signals import ModelView, user_features


def fit_risk(events: pd.DataFrame, catalog: Catalog, view: ModelView | None,
             config: RiskConfig, labels: pd.Series | None = None,
             model_version: str = "") -> RiskModel:
    """Calibrate on up to `reference_users` shoppers of `events` (a seeded draw of those with
    at least `min_events`); `labels` (user id -> 1 bad / 0 good), where given, also train the
    supervised detector on the labelled users' features."""
    events = events[list(INTERACTION_COLUMNS)]
    reference = BehaviourReference.from_events(events, catalog)
    counts = events["user_id"].astype(str).value_counts()
    users = np.sort(counts.index[counts >= config.min_events].to_numpy())
    if len(users) < 2:
        raise ValueError(f"risk: {len(users)} user(s) with >= {config.min_events} events; "
                         "the detector needs at least 2 to calibrate on")
    if len(users) > config.reference_users:
        rng = np.random.default_rng(config.seed)
        users = np.sort(rng.choice(users, config.reference_users, replace=False))
    drawn = events[events["user_id"].astype(str).isin(set(users))]
    features, _, units = user_features(drawn, reference, view, config, None)
    calibration = Calibration(features.to_numpy(np.float64), units[np.any(units, axis=1)])
    if labels is not None:
        calibration.labelled, calibration.labels = _labelled(events, labels, reference, view,
                                                             config, calibration)
    return RiskModel(config, reference, calibration, list(features.columns), model_version)


def _labelled(events: pd.DataFrame, labels: pd.Series, reference: BehaviourReference,
              view: ModelView | None, config: RiskConfig,
              calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    labels = labels.copy()
    labels.index = labels.index.astype(str)
    mine = events[events["user_id"].astype(str).isin(set(labels.index))]
    if mine.empty:
        raise ValueError("risk labels: none of the labelled users has events in the data")
    features, _, _ = user_features(mine, reference, view, config,
                                   calibration.reference_vectors)
    return features.to_numpy(np.float64), labels.reindex(features.index).to_numpy(int)
