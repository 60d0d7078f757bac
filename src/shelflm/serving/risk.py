"""Risk control while serving ([serving.risk_control]): users are scored by the artifact's
risk model (shelflm.models.risk) as their events arrive, over their stored events and the
served model's vectors; the flagged are quarantined through the store's risk log, so every worker
stops counting their events for other shoppers. Their events are kept, never deleted:
releasing a user (a false alarm) counts them again.

The engine applies the log (`Quarantine.follow`): a newly quarantined user's events already
counted in popularity are taken back out, and a released user's are added back."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shelflm.data.schema import INTERACTION_COLUMNS
from shelflm.serving.errors import RequestError
from shelflm.serving.items import ItemTable
from shelflm.serving.stage_config import RiskGuardConfig
from shelflm.serving.store import EventStore, RiskChange

RISK_DIR = "risk"  # the risk model's folder inside an artifact


@dataclass
class Quarantine:
    """Which users' events count for nobody else: replayed from the store's risk log."""

    users: dict[str, RiskChange] = field(default_factory=dict)  # quarantined now
    released: set[str] = field(default_factory=set)  # released: never quarantined again
    mark: int = 0  # last risk-log version applied

    def follow(self, store: EventStore, items: ItemTable | None = None,
               event_mark: int = 0) -> None:
        """Apply the changes logged since `mark` in order; with `items`, move the users'
        counted events (up to `event_mark`, what popularity holds) out of or back into
        popularity."""
        for change in store.risk_changes_since(self.mark):
            user, was = change.user_id, change.user_id in self.users
            sign = 0
            if change.state == "quarantined" and not was:
                self.users[user], sign = change, -1
                self.released.discard(user)
            elif change.state == "released":
                self.released.add(user)
                if was:
                    del self.users[user]
                    sign = 1
            if sign and items is not None:
                _count(items, store.user_item_counts(user, event_mark), sign)
            self.mark = change.version


def _count(items: ItemTable, counts: dict[str, int], sign: int) -> None:
    for item, n in counts.items():
        s = items.slot_of.get(item)
        if s is not None:
            items.popularity[s] = max(items.popularity[s] + sign * n, 0)


class RiskGuard:
    """A loaded risk model, its threshold and counters (thread-safe)."""

    def __init__(self, config: RiskGuardConfig, directory: Path) -> None:
        # Deferred: the engine imports this module without scikit-learn or the model code.
        from shelflm.models.risk import RiskModel

        self.model = RiskModel.load(directory)
        self.config, self.directory = config, directory
        self.threshold = config.threshold or self.model.config.threshold
        self._lock = threading.Lock()
        self.scored = self.flagged = 0

    def score(self, user_id: str, events: list, view: object) -> dict:
        """The user's RiskScore as a dict, from their stored events (oldest first)."""
        # Deferred like the model above.
        from shelflm.models.risk import score_users

        frame = pd.DataFrame([(e.user_id, e.item_id, e.timestamp, e.event, e.value)
                              for e in events], columns=list(INTERACTION_COLUMNS))
        out = score_users(self.model, frame, view, self.threshold)[0]
        with self._lock:
            self.scored += 1
            self.flagged += out.flagged
        return out.to_dict()

    def stats(self) -> dict:
        with self._lock:
            return {"model": str(self.directory), "threshold": self.threshold,
                    "scored": self.scored, "flagged": self.flagged,
                    "min_events": self.model.config.min_events,
                    "window": self.model.config.window}


def make_guard(config: RiskGuardConfig, artifact_dir: Path | None) -> RiskGuard | None:
    """The configured risk model: [serving.risk_control] model, else the artifact's risk/ folder
    when it has one; None when off or absent."""
    if not config.enabled:
        return None
    directory = config.model or (artifact_dir / RISK_DIR if artifact_dir else None)
    if directory is None or (config.model is None and not directory.is_dir()):
        return None
    try:
        return RiskGuard(config, directory)
    except (OSError, ValueError) as exc:
        raise ValueError(f"[serving.risk_control] model: {exc}") from exc


def quarantine_change(score: dict) -> RiskChange:
    """The risk-log entry quarantining a scored user."""
    return RiskChange(score["user_id"], "quarantined", score["score"],
                      json.dumps(score["reasons"]))


def unknown_user(user_id: str) -> RequestError:
    """The error of a user id with no stored events."""
    return RequestError("user_id", f"unknown user id {user_id!r} (no stored events)",
                        "not_found")
