"""The risk model: a score per user in [0, 1] with the reasons behind it.

Each user is described by behaviour features (shelflm.data.behaviour) and by what the
behaviour model says of them (risk_signals); unsupervised detectors from pyod over them
find the unusual: by default ECOD (each feature's empirical tail probabilities, summed: a
user extreme on one feature or many) and KNN (distance to the nearest calibration shoppers:
an unusual combination of ordinary values), a user taking the higher of their two ranks.
The score is calibrated on the training shoppers: the share of them who look less unusual.
With labels (known bad and good users), a logistic regression over the same features and
the detectors' score gives the probability instead.

Saved as a folder (risk.json + risk.safetensors; no pickle): the fitted detectors are not
stored but refitted, deterministically (seeded), from the stored calibration matrix on load.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

from shelflm.data.behaviour import BEHAVIOUR_FEATURES, BehaviourReference
from shelflm.data.schema import INTERACTION_COLUMNS
from shelflm.models.risk_config import RiskConfig
from shelflm.models.risk_signals import MODEL_FEATURES, ModelView, user_features

FORMAT, FORMAT_VERSION = "shelflm-risk", 1
CONFIG, ARRAYS = "risk.json", "risk.safetensors"
REASON_SHARE = 0.95  # a feature is a reason when at least this share of shoppers is less extreme
MAX_REASONS = 3


@dataclass
class RiskScore:
    """One user's risk: `score` is None when there are too few events to judge."""

    user_id: str
    score: float | None
    flagged: bool
    events: int
    status: str = "ok"  # or "insufficient_data"
    reasons: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Calibration:
    """The training shoppers the detector is fitted on, and optional labelled users."""

    features: np.ndarray  # (n, F) in RiskModel.feature_names order
    reference_vectors: np.ndarray  # (r, d) unit user vectors of real shoppers
    labelled: np.ndarray | None = None  # (m, F) features of labelled users
    labels: np.ndarray | None = None  # (m,) 1 = bad, 0 = good
    raw: np.ndarray | None = None  # (n, detectors) each detector's scores of `features`


class RiskModel:
    """Scores users' feature rows; see the module docstring."""

    def __init__(self, config: RiskConfig, reference: BehaviourReference,
                 calibration: Calibration, feature_names: list[str], model_version: str = "",
                 ) -> None:
        self.config, self.reference, self.calibration = config, reference, calibration
        self.feature_names, self.model_version = feature_names, model_version
        x = calibration.features
        self._centre = np.median(x, axis=0)
        spread = np.subtract(*np.percentile(x, [75, 25], axis=0))
        self._scale = np.where(spread > 0, spread, np.maximum(x.std(axis=0), 1e-9))
        self._lock = threading.Lock()
        self._live = x.std(axis=0) > 0  # a feature no shopper varies on tells nothing
        self._detectors = [_detector(name, config) for name in config.detector.split("+")]
        for detector in self._detectors:
            detector.fit(self._scaled(x)[:, self._live])
        # The calibration shoppers' scores, each made as any user's is (stored: a load
        # would otherwise score them all again).
        raw = calibration.raw if calibration.raw is not None else self._each(x)
        calibration.raw = raw = raw.reshape(len(x), len(self._detectors))
        self._sorted_each = np.sort(raw, axis=0)
        self._raw = np.sort(self._combined(raw))
        self._sorted = np.sort(x, axis=0)
        self._classifier = self._fit_classifier()

    @property
    def supervised(self) -> bool:
        return self._classifier is not None

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        return (x - self._centre) / self._scale

    def _each(self, x: np.ndarray) -> np.ndarray:
        """(n, detectors) each detector's anomaly score of each row (higher: more unusual).
        One row at a time: pyod's ECOD scores new rows on the tails of the training rows AND
        the rows it is given, so a batch of 100 bots would hide each other; alone, every
        user is judged against the shoppers only, in a batch exactly as when served."""
        rows = self._scaled(x)[:, self._live]
        with self._lock, warnings.catch_warnings():  # ECOD keeps its last tables on itself
            # ECOD's skewness of a nearly constant feature warns of precision loss at every
            # user scored; its sign (all ECOD uses) is right.
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.array([[float(d.decision_function(r[None])[0]) for d in self._detectors]
                             for r in rows]).reshape(len(rows), len(self._detectors))

    def _combined(self, each: np.ndarray) -> np.ndarray:
        """One score per row: the detector's own, or with several, the highest of their
        ranks among the calibration shoppers (unusual to any one of them is unusual)."""
        if each.shape[1] == 1:
            return each[:, 0]
        n = len(self._sorted_each)
        return np.max([np.searchsorted(self._sorted_each[:, j], each[:, j], side="right") / n
                       for j in range(each.shape[1])], axis=0)

    def _outlying(self, x: np.ndarray) -> np.ndarray:
        """The anomaly score of each row (higher: more unusual), before calibration."""
        return self._combined(self._each(x))

    def _fit_classifier(self):  # -> LogisticRegression | None
        c = self.calibration
        if c.labels is None or c.labelled is None or len(np.unique(c.labels)) < 2:
            return None
        # Deferred: scikit-learn loads only where risk is scored (not with every config).
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(max_iter=1000)
        return clf.fit(self._supervised_inputs(c.labelled), c.labels)

    def _supervised_inputs(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([self._scaled(x), self._outlying(x)])

    def risk(self, x: np.ndarray) -> np.ndarray:
        """(n,) calibrated risk in [0, 1] of feature rows (n, F)."""
        if self._classifier is not None:
            return self._classifier.predict_proba(self._supervised_inputs(x))[:, 1]
        return np.searchsorted(self._raw, self._outlying(x), side="right") / len(self._raw)

    def reasons(self, row: np.ndarray) -> list[dict]:
        """The features where `row` is rarer than REASON_SHARE of the shoppers, rarest first."""
        n = len(self._sorted)
        out = []
        descriptions = feature_descriptions()
        for j, name in enumerate(self.feature_names):
            below = np.searchsorted(self._sorted[:, j], row[j], side="left") / n
            above = 1 - np.searchsorted(self._sorted[:, j], row[j], side="right") / n
            share, side = (below, "higher") if below >= above else (above, "lower")
            if share >= REASON_SHARE:
                out.append({"feature": name, "value": round(float(row[j]), 4),
                            "share": round(float(share), 4), "direction": side,
                            "text": f"{descriptions[name]}: {row[j]:.3g}, {side} than "
                                    f"{share:.1%} of shoppers"})
        return sorted(out, key=lambda r: -r["share"])[:MAX_REASONS]

    def scores(self, features: pd.DataFrame, counts: pd.Series,
               threshold: float | None = None) -> list[RiskScore]:
        """A RiskScore per user row of `features` (indexed by user id); `counts`: their
        numbers of events (too few: insufficient data)."""
        threshold = self.config.threshold if threshold is None else threshold
        counts = counts.reindex(features.index).fillna(0).astype(int)
        enough = (counts >= self.config.min_events).to_numpy()
        x = features[self.feature_names].to_numpy(np.float64)
        risk = np.full(len(x), np.nan)
        if enough.any():
            risk[enough] = self.risk(x[enough])
        out = []
        for i, user in enumerate(features.index):
            if not enough[i]:
                out.append(RiskScore(str(user), None, False, int(counts.iloc[i]),
                                     "insufficient_data"))
                continue
            flagged = bool(risk[i] >= threshold)
            out.append(RiskScore(str(user), round(float(risk[i]), 6), flagged,
                                 int(counts.iloc[i]), reasons=self.reasons(x[i])))
        return out

    # -- the folder ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write risk.json and risk.safetensors into `directory` (created)."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        c, ref = self.calibration, self.reference
        arrays = {"features": c.features, "reference_vectors": c.reference_vectors,
                  "hour_profile": ref.hour_profile, "raw": c.raw}
        if c.labels is not None and c.labelled is not None:
            arrays |= {"labelled": c.labelled, "labels": c.labels.astype(np.float64)}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, root / ARRAYS)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "features": self.feature_names, "config": asdict(self.config),
                "model_version": self.model_version, "supervised": self.supervised,
                "calibration_users": len(c.features),
                "reference": {k: v for k, v in asdict(ref).items() if k != "hour_profile"}}
        (root / CONFIG).write_text(json.dumps(meta, indent=1))  # last: the folder is complete
        return root

    @classmethod
    def load(cls, directory: str | Path, config: RiskConfig | None = None) -> RiskModel:
        """Read a folder written by save(); `config` overrides its recorded one (threshold)."""
        root = Path(directory)
        path = root / CONFIG
        if not path.is_file():
            raise ValueError(f"{root}: not a shelflm risk model (no {CONFIG}); fit one with "
                             "`shelflm risk fit`")
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{path}: not a {FORMAT} file of version <= {FORMAT_VERSION}")
        arrays = load_file(root / ARRAYS)
        ref = meta["reference"]
        reference = BehaviourReference(**{**ref, "value_range": tuple(ref["value_range"]),
                                          "hour_profile": arrays["hour_profile"]})
        labels = arrays.get("labels")
        saved = RiskConfig(**meta["config"])
        # The stored calibration scores are the saved detector's: another one scores anew.
        same = config is None or _detector_key(config) == _detector_key(saved)
        calibration = Calibration(arrays["features"], arrays["reference_vectors"],
                                  arrays.get("labelled"),
                                  None if labels is None else labels.astype(int),
                                  arrays.get("raw") if same else None)
        return cls(config or saved, reference, calibration,
                   meta["features"], meta.get("model_version", ""))


def _detector_key(config: RiskConfig) -> tuple:
    return config.detector, config.trees, config.seed, config.neighbours


def _detector(name: str, config: RiskConfig):  # -> a pyod detector
    """One unsupervised detector of [risk] detector (pyod; loaded only where risk is)."""
    if name == "knn":
        # Deferred as below.
        from pyod.models.knn import KNN

        return KNN(n_neighbors=config.neighbours)
    if name == "iforest":
        # Deferred: pyod (and numba under it) loads only where risk is scored.
        from pyod.models.iforest import IForest

        return IForest(n_estimators=config.trees, random_state=config.seed)
    # Deferred as above.
    from pyod.models.ecod import ECOD

    return ECOD()


def score_users(model: RiskModel, events: pd.DataFrame, view: ModelView | None,
                threshold: float | None = None) -> list[RiskScore]:
    """A RiskScore per user of `events`, each over their last `window` events: the one
    scoring path of batches (`shelflm risk score`) and of live users (serving)."""
    features, counts, _ = user_features(events[list(INTERACTION_COLUMNS)], model.reference,
                                        view, model.config,
                                        model.calibration.reference_vectors)
    return model.scores(features, counts, threshold)


def feature_descriptions() -> dict[str, str]:
    """Every feature's name -> what it measures (for reasons)."""
    return {**BEHAVIOUR_FEATURES, **MODEL_FEATURES}
