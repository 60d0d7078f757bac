"""Config of the risk model (the `[risk]` section): torch-free, so loading a run config never
imports torch or scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import ConfigDict

DETECTORS = ("ecod+knn", "ecod", "knn", "iforest")


@dataclass
class RiskConfig:
    """How users' risk is scored, calibrated and flagged."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    threshold: float = field(default=0.99, metadata={"help": (
        "Risk at or above which a user is flagged (served: quarantined). Unsupervised, risk "
        "is the share of the training shoppers who look less unusual, so 0.99 flags about 1% "
        "of real shoppers; with labels it is the detector's probability.")})
    min_events: int = field(default=5, metadata={"help": (
        "Fewer events than this: no score, marked 'insufficient data' (never flagged).")})
    window: int = field(default=500, metadata={"help": (
        "Most recent events of a user that are scored.")})
    positions: int = field(default=16, metadata={"help": (
        "Positions of the history where the behaviour model's likelihood of the next event "
        "is measured (0: no behaviour-model features).")})
    neighbours: int = field(default=10, metadata={"help": (
        "Nearest real shoppers whose vectors a user's vector is compared with.")})
    reference_users: int = field(default=2000, metadata={"help": (
        "Most training shoppers (a seeded draw) the detector is fitted and calibrated on and "
        "whose vectors are kept as the reference of real behaviour. Scoring one user costs "
        "in proportion (ECOD reads every one's tails: about 5 ms at 2,000).")})
    detector: Literal["ecod+knn", "ecod", "knn", "iforest"] = field(
        default="ecod+knn", metadata={"help": (
            "The unsupervised detector (pyod): ecod (parameter-free empirical tail "
            "probabilities: one extreme feature or several), knn (distance to the "
            "`neighbours`-th nearest calibration shopper, features scaled by their spread: "
            "an unusual combination), iforest (an isolation forest of `trees` trees), or "
            "ecod+knn: each user's higher rank of the two, calibrated again.")})
    trees: int = field(default=200, metadata={"help": "Trees of the isolation forest."})
    seed: int = field(default=0, metadata={"help": "Seed of the draw and of the forest."})

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"RiskConfig: threshold must be in (0, 1], got {self.threshold}")
        if min(self.min_events, self.window, self.neighbours, self.reference_users,
               self.trees) < 1 or self.positions < 0:
            raise ValueError(f"RiskConfig: min_events, window, neighbours, reference_users and "
                             f"trees must be >= 1 and positions >= 0, got {self}")
        if self.detector not in DETECTORS:
            raise ValueError(f"RiskConfig: detector must be one of {DETECTORS}, got "
                             f"{self.detector!r}")
        if self.min_events > self.window:
            raise ValueError(f"RiskConfig: min_events ({self.min_events}) must not exceed "
                             f"window ({self.window})")
