"""The engine's risk desk: scores users after their events are stored, quarantines the
flagged through the store's risk log, answers a user's risk and releases a false alarm.
Scoring runs outside the engine's lock, on references to the state taken under it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from shelflm.models.risk_signals import ModelView
from shelflm.serving.risk import RiskGuard, quarantine_change, unknown_user
from shelflm.serving.state import ServingState
from shelflm.serving.store import EventStore, RiskChange

PENDING_USERS = 100_000  # users whose count since their last scoring is kept (LRU)


def _view(st: ServingState) -> ModelView:
    """The served model's view of every item, new ones included (taken under the lock)."""
    items = st.items
    return ModelView(items.slot, items.vectors, items.scored, st.model.user_vector)


class RiskDesk:
    """Risk scoring and quarantine for one engine (see the module docstring)."""

    def __init__(self, store: EventStore, lock: threading.RLock,
                 state: Callable[[], ServingState], catch_up: Callable[[], None]) -> None:
        self.store, self._lock, self._state, self._catch_up = store, lock, state, catch_up
        self._pending: OrderedDict[str, int] = OrderedDict()  # user -> events since scored
        self._pending_lock = threading.Lock()

    def _read(self, user_id: str) -> tuple[RiskGuard | None, ModelView | None, list]:
        """(guard, view, the user's last `window` events) as served now."""
        with self._lock:
            st = self._state()
            guard = st.risk
            view = _view(st) if guard is not None else None
        window = guard.model.config.window if guard is not None else 1
        return guard, view, self.store.user_events(user_id, window)

    def _due(self, user: str, new: int, every: int) -> bool:
        """Whether `user`, with `new` events just stored, is to be scored now: at the first
        look (in this worker) and then once `every` events have come since the last."""
        with self._pending_lock:
            seen = self._pending.get(user)
            if seen is not None and seen + new < every:
                self._pending[user] = seen + new
                self._pending.move_to_end(user)
                return False
            self._pending[user] = 0
            self._pending.move_to_end(user)
            while len(self._pending) > PENDING_USERS:
                self._pending.popitem(last=False)
            return True

    def check(self, users: dict[str, int]) -> list[str]:
        """Score the users who just sent events ({user: how many}; not the quarantined or
        released ones) when due; quarantine the flagged when [serving.risk_control]
        quarantine is on. Returns those flagged."""
        flagged = []
        for user, new in users.items():
            with self._lock:  # one look at the state per user: guard, quarantine, view
                st = self._state()
                guard, q = st.risk, st.quarantine
                if guard is None or user in q.users or user in q.released:
                    continue
                view = _view(st)
            if not self._due(user, new, guard.config.every):
                continue
            events = self.store.user_events(user, guard.model.config.window)
            if len(events) < guard.model.config.min_events:
                with self._pending_lock:  # too few to judge: look again at the next event
                    self._pending.pop(user, None)
                continue
            score = guard.score(user, events, view)
            if score["flagged"]:
                flagged.append(user)
                if guard.config.quarantine:
                    self.store.log_risk([quarantine_change(score)])
        if flagged:
            self._catch_up()
        return flagged

    def risk(self, user_id: str) -> dict:
        """The user's risk scored now from their stored events, and their quarantine state;
        RequestError (not found) for a user with no stored events."""
        guard, view, events = self._read(user_id)
        if not events:
            raise unknown_user(user_id)
        if guard is None:
            out = {"user_id": user_id, "score": None, "flagged": False, "events": len(events),
                   "status": "no_risk_model", "reasons": []}
        else:
            out = guard.score(user_id, events, view)
        return out | self.state_of(user_id)

    def state_of(self, user_id: str) -> dict:
        """{"quarantined": bool, "released": bool, "quarantined_score": float | None}."""
        with self._lock:
            q = self._state().quarantine
            entry = q.users.get(user_id)
            return {"quarantined": entry is not None, "released": user_id in q.released,
                    "quarantined_score": entry.score if entry else None}

    def release(self, user_id: str) -> dict:
        """Count a quarantined user's events again and stop quarantining them; returns their
        state. RequestError for an unknown user."""
        if not self.store.user_events(user_id, 1):
            raise unknown_user(user_id)
        self.store.log_risk([RiskChange(user_id, "released")])
        self._catch_up()
        return {"user_id": user_id} | self.state_of(user_id)

    def stats(self) -> dict | None:
        """The guard's counters and how many users are quarantined (None: no risk model)."""
        with self._lock:
            st = self._state()
            if st.risk is None:
                return None
            return st.risk.stats() | {"quarantined": len(st.quarantine.users)}

    def quarantined(self) -> list[dict]:
        """Every quarantined user with the score and reasons that flagged them."""
        with self._lock:
            users = list(self._state().quarantine.users.values())
        return [{"user_id": c.user_id, "score": c.score, "reasons": c.reasons} for c in users]
