"""Leakage-free train / validation / test splits: leave-one-out, temporal, cold-start items.

Every split works in the index space of the ORIGINAL dataset: the train `Dataset` keeps the
full catalog and the full user index, so item and user indices never shift.

One rule defines every history: a case's history is all of the user's events (of any
type) strictly earlier in time than the target event, in time order. Events tied in time
with the target are therefore never in its history. Train never holds an evaluation target
(not even an exact (user, item, timestamp) duplicate of one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from shelflm.data.errors import DropReport
from shelflm.data.schema import EVENT_TYPES, INTERACTION_COLUMNS, Dataset


@dataclass
class EvalCases:
    """Aligned evaluation cases: user `users[j]` saw `histories[j]`, then `targets[j]` came."""

    users: np.ndarray  # (n,) int64 user indices of the original dataset
    targets: np.ndarray  # (n,) int64 item indices
    histories: list[np.ndarray]  # per case, item indices in time order (may be empty)
    history_events: list[np.ndarray]  # per case, event-type indices aligned with histories
    target_is_cold: np.ndarray  # (n,) bool: the target item has no event in train
    target_times: np.ndarray | None = None  # (n,) int64 timestamps of the target events

    def __post_init__(self) -> None:
        n = len(self.users)
        sizes = {"targets": len(self.targets), "histories": len(self.histories),
                 "history_events": len(self.history_events),
                 "target_is_cold": len(self.target_is_cold)}
        if self.target_times is not None:
            sizes["target_times"] = len(self.target_times)
        bad = {k: v for k, v in sizes.items() if v != n}
        if bad:
            raise ValueError(f"EvalCases arrays must align with users ({n} cases), got {bad}")

    def __len__(self) -> int:
        return len(self.users)

    def take(self, index: np.ndarray) -> EvalCases:
        """The cases at `index` (positions), in that order."""
        idx = np.asarray(index, dtype=np.int64)
        times = None if self.target_times is None else self.target_times[idx]
        return EvalCases(np.asarray(self.users)[idx], np.asarray(self.targets)[idx],
                         [self.histories[i] for i in idx], [self.history_events[i] for i in idx],
                         np.asarray(self.target_is_cold)[idx], times)


@dataclass
class Split:
    """Train set plus validation and test cases; `cold_items` were held out of train on purpose."""

    train: Dataset
    valid: EvalCases
    test: EvalCases
    cold_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def summary(self) -> dict[str, int]:
        """Counts for reports: train size, cases, cold targets, users left without cases."""
        users_with_cases = np.union1d(self.valid.users, self.test.users)
        train_users = self.train.interactions.events["user_id"].nunique()
        return {
            "train_interactions": len(self.train.interactions),
            "train_users": int(train_users),
            "valid_cases": len(self.valid),
            "test_cases": len(self.test),
            "valid_cold_targets": int(np.sum(self.valid.target_is_cold)),
            "test_cold_targets": int(np.sum(self.test.target_is_cold)),
            "cold_items": len(self.cold_items),
            "users_without_cases": int(self.train.num_users - len(users_with_cases)),
            "dropped_from_train": int(self.train.dropped.total),
        }


class Splitter(Protocol):
    """What every split offers: one call from a dataset to a `Split`."""

    def split(self, dataset: Dataset) -> Split:
        """Split `dataset` into train, validation and test."""


def _check_events(target_events: tuple[str, ...] | None, owner: str) -> None:
    if target_events is None:
        return
    if not target_events:
        raise ValueError(f"{owner}.target_events is empty; use None for every event type")
    unknown = [e for e in target_events if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"{owner}.target_events has unknown {unknown}; expected {EVENT_TYPES}")


class _Events:
    """A dataset's events as numpy arrays sorted by (user, time, stored order)."""

    def __init__(self, dataset: Dataset, target_events: tuple[str, ...] | None) -> None:
        enc = dataset.encoded()
        order = np.lexsort(
            (np.arange(len(enc)), enc["timestamp"].to_numpy(), enc["user"].to_numpy()))
        self.frame = enc.iloc[order].reset_index(drop=True)
        self.user = self.frame["user"].to_numpy()
        self.item = self.frame["item"].to_numpy()
        self.time = self.frame["timestamp"].to_numpy()
        self.event = self.frame["event_idx"].to_numpy()
        self.dataset = dataset
        codes = [EVENT_TYPES.index(e) for e in (target_events or EVENT_TYPES)]
        self.is_target = np.isin(self.event, codes)
        # (user, time) as one sortable key, so "events strictly before" is one searchsorted.
        t0 = int(self.time.min()) if len(self.time) else 0
        width = int(self.time.max()) - t0 + 2 if len(self.time) else 1
        self.key = self.user * width + (self.time - t0)
        self.user_start = np.searchsorted(self.user, np.arange(dataset.num_users))

    def history_end(self, rows: np.ndarray) -> np.ndarray:
        """Per target row, the end (exclusive) of its user's events strictly earlier in time."""
        return np.searchsorted(self.key, self.key[rows], side="left")

    def cases(self, rows: np.ndarray, train_items: np.ndarray) -> EvalCases:
        """Eval cases for the given target rows; cold = target item not among `train_items`."""
        starts, ends = self.user_start[self.user[rows]], self.history_end(rows)
        return EvalCases(
            users=self.user[rows].astype(np.int64), targets=self.item[rows].astype(np.int64),
            histories=[self.item[s:e] for s, e in zip(starts, ends, strict=True)],
            history_events=[self.event[s:e] for s, e in zip(starts, ends, strict=True)],
            target_is_cold=~np.isin(self.item[rows], train_items),
            target_times=self.time[rows].astype(np.int64),
        )

    def train(self, keep: np.ndarray, target_rows: np.ndarray,
              drops: dict[str, int]) -> tuple[Dataset, np.ndarray]:
        """The train Dataset of the kept rows minus exact duplicates of any target; its items."""
        keys = pd.MultiIndex.from_arrays([self.user, self.item, self.time])
        dup = keep & keys.isin(keys[target_rows])
        drops = {**drops, "exact duplicate of an evaluation target": int(dup.sum())}
        train = self.dataset.with_interactions(
            self.frame.loc[keep & ~dup, list(INTERACTION_COLUMNS)], f"{self.dataset.name}/train")
        train.dropped = DropReport(Counter(self.dataset.dropped.counts))
        for reason, n in drops.items():
            train.dropped.add(f"split: {reason}", n)
        return train, np.unique(self.item[keep & ~dup])


def _leave_one_out(ev: _Events, min_history: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation rows, test rows (one pair per evaluated user) and the rows before validation."""
    rows = np.flatnonzero(ev.is_target)
    from_end = pd.Series(ev.user[rows]).groupby(ev.user[rows]).cumcount(ascending=False)
    from_end = from_end.to_numpy()
    valid, test = rows[from_end == 1], rows[from_end == 0]
    test = test[np.isin(ev.user[test], ev.user[valid])]  # users with >= 2 targets, aligned
    enough = ev.history_end(valid) - ev.user_start[ev.user[valid]] >= min_history
    valid, test = valid[enough], test[enough]
    # Train: everything before the validation target (later events are the test period).
    cut = np.full(ev.dataset.num_users, len(ev.user))
    cut[ev.user[valid]] = valid
    return valid, test, np.arange(len(ev.user)) < cut[ev.user]


@dataclass
class LeaveOneOutSplit:
    """Per user by time: last target event = test, second-to-last = validation, earlier = train.

    The published protocol on amazon-beauty (SASRec): every event is a target, so each user's
    last item is test and the second-to-last is validation. Users with fewer than two
    target events, or fewer than `min_history` earlier events, go to train entirely.
    """

    min_history: int = field(default=1, metadata={
        "help": "Events a user needs strictly before the validation target to be evaluated."})
    target_events: tuple[str, ...] | None = field(default=None, metadata={
        "help": "Event types that count as targets, e.g. ('purchase',); None = every event."})

    def __post_init__(self) -> None:
        if self.min_history < 1:
            raise ValueError(f"LeaveOneOutSplit.min_history must be >= 1, got {self.min_history}")
        _check_events(self.target_events, "LeaveOneOutSplit")

    def split(self, dataset: Dataset) -> Split:
        """Split each evaluated user's sequence at their last two target events."""
        ev = _Events(dataset, self.target_events)
        valid, test, keep = _leave_one_out(ev, self.min_history)
        train, train_items = ev.train(keep, np.concatenate([valid, test]), {
            "events at or after a validation target": int((~keep).sum())})
        return Split(train, ev.cases(valid, train_items), ev.cases(test, train_items))


@dataclass
class ColdStartItemSplit:
    """Leave-one-out cases, with a random share of items held out of train entirely.

    Histories may contain cold items (a text-based model can represent them); each case's
    `target_is_cold` says whether its target has no training event, so metrics can be
    reported on cold and warm targets apart. Cold items are drawn among items with events.
    """

    cold_fraction: float = field(default=0.1, metadata={
        "help": "Share of the items with events whose every interaction is kept out of train."})
    seed: int = field(default=0, metadata={"help": "Random seed of the cold item draw."})
    min_history: int = field(default=1, metadata={
        "help": "Events a user needs strictly before the validation target to be evaluated."})
    target_events: tuple[str, ...] | None = field(default=None, metadata={
        "help": "Event types that count as targets; None = every event."})

    def __post_init__(self) -> None:
        if not 0.0 < self.cold_fraction < 1.0:
            raise ValueError(
                f"ColdStartItemSplit.cold_fraction must be in (0, 1), got {self.cold_fraction}")
        if self.min_history < 1:
            raise ValueError(f"ColdStartItemSplit.min_history must be >= 1, got {self.min_history}")
        _check_events(self.target_events, "ColdStartItemSplit")

    def split(self, dataset: Dataset) -> Split:
        """Draw the cold items, then split leave-one-out and drop cold items from train."""
        ev = _Events(dataset, self.target_events)
        seen = np.unique(ev.item)
        n_cold = max(1, round(self.cold_fraction * len(seen))) if len(seen) else 0
        rng = np.random.default_rng(self.seed)
        cold = np.sort(rng.choice(seen, size=n_cold, replace=False)).astype(np.int64)
        valid, test, before = _leave_one_out(ev, self.min_history)
        is_cold = np.isin(ev.item, cold)
        keep = before & ~is_cold
        train, train_items = ev.train(keep, np.concatenate([valid, test]), {
            "events at or after a validation target": int((~before).sum()),
            "events of held-out cold items": int((before & is_cold).sum()),
        })
        return Split(train, ev.cases(valid, train_items), ev.cases(test, train_items), cold)


@dataclass
class TemporalSplit:
    """A global time cut: train before t1, validation cases in [t1, t2), test cases from t2.

    t1 and t2 are the event-time quantiles that leave `valid_fraction` and `test_fraction`
    of the events after them. Each user's case in a period is their first target event
    there with at least `min_history` earlier events (all of them, any period, as history).
    Users and items absent from train still get cases; `target_is_cold` marks unseen items.
    """

    valid_fraction: float = field(default=0.1, metadata={
        "help": "Share of events (by time) in the validation period."})
    test_fraction: float = field(default=0.1, metadata={
        "help": "Share of events (by time) in the test period, the latest events."})
    min_history: int = field(default=1, metadata={
        "help": "Earlier events a case needs; 0 keeps first-ever events as cases."})
    target_events: tuple[str, ...] | None = field(default=None, metadata={
        "help": "Event types that count as targets; None = every event."})

    def __post_init__(self) -> None:
        for name in ("valid_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(
                    f"TemporalSplit.{name} must be in (0, 1), got {getattr(self, name)}")
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError("TemporalSplit.valid_fraction + test_fraction must be < 1 "
                             f"(got {self.valid_fraction} + {self.test_fraction})")
        if self.min_history < 0:
            raise ValueError(f"TemporalSplit.min_history must be >= 0, got {self.min_history}")
        _check_events(self.target_events, "TemporalSplit")

    def cut_times(self, dataset: Dataset) -> tuple[int, int]:
        """The validation and test start times (t1, t2) for `dataset`."""
        if not dataset.has_time:
            raise ValueError(f"{dataset.name}: TemporalSplit needs real timestamps, but this "
                             "dataset only has event order; use LeaveOneOutSplit instead")
        times = np.sort(dataset.interactions.events["timestamp"].to_numpy())
        if not len(times):
            raise ValueError(f"{dataset.name}: TemporalSplit needs events, the dataset has none")
        n = len(times)
        t1 = int(times[min(n - 1, int(n * (1 - self.valid_fraction - self.test_fraction)))])
        t2 = int(times[min(n - 1, int(n * (1 - self.test_fraction)))])
        if t1 <= times[0]:
            raise ValueError(f"{dataset.name}: TemporalSplit leaves no event before the "
                             f"validation cut {t1}; all events share too few timestamps")
        return t1, t2

    def split(self, dataset: Dataset) -> Split:
        """Cut at t1 and t2; one case per user and period."""
        t1, t2 = self.cut_times(dataset)
        ev = _Events(dataset, self.target_events)
        keep = ev.time < t1
        has_history = ev.history_end(np.arange(len(ev.user))) - ev.user_start[ev.user]
        eligible = ev.is_target & (has_history >= self.min_history)

        def first_rows(in_period: np.ndarray) -> np.ndarray:
            rows = np.flatnonzero(eligible & in_period)
            return rows[np.unique(ev.user[rows], return_index=True)[1]]

        valid = first_rows((ev.time >= t1) & (ev.time < t2))
        test = first_rows(ev.time >= t2)
        train, train_items = ev.train(keep, np.concatenate([valid, test]), {
            "events at or after the validation cut": int((~keep).sum())})
        return Split(train, ev.cases(valid, train_items), ev.cases(test, train_items))
