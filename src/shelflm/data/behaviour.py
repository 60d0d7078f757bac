"""Behaviour features per user for risk control: how fast, how bursty, how typical a
shopper's events are, measured against the shop's own shoppers (a `BehaviourReference` made
from the training events). Pure pandas / numpy: the same code scores a batch of users and
one live user in serving.

The features follow the shilling-detection literature (rating deviation from the item
means, the share of filler items from the long tail: Chirita et al. 2005, Burke et al. 2006)
and bot detection (event rate and burstiness, time-of-day profile, session shape)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelflm.data.schema import CATEGORY_SEPARATOR, INTERACTION_COLUMNS, Catalog

SESSION_GAP_S = 1800  # a pause this long (seconds) starts a new session
BEHAVIOUR_FEATURES: dict[str, str] = {
    "log_events": "number of events (log)",
    "peak_per_minute": "most events in one minute",
    "burstiness": "burstiness of the gaps between events",
    "gap_median": "median gap between events (log seconds)",
    "value_deviation": "deviation of ratings / quantities from the items' means",
    "extreme_share": "share of ratings at the ends of the scale",
    "tail_share": "share of rarely bought items (the long tail)",
    "popularity_mean": "mean popularity of the items (log)",
    "distinct_share": "share of distinct items among the events",
    "coverage": "share of the catalog touched",
    "category_entropy": "spread over top-level categories",
    "hour_entropy": "spread over the hours of the day",
    "hour_typicality": "overlap of the hours with the shop's usual hours",
    "sessions": "number of sessions (log)",
    "session_mean": "events per session (log)",
    "session_max": "events in the longest session (log)",
    "purchase_share": "share of purchases among the events",
}


@dataclass
class BehaviourReference:
    """What a user's behaviour is compared with: the shop's item statistics and hours."""

    item_count: dict[str, int]  # events per item in the reference data
    item_mean: dict[str, float]  # mean value per item
    global_mean: float
    value_range: tuple[float, float]  # smallest and largest value seen
    tail_cut: float  # items with fewer events than this are the long tail
    hour_profile: np.ndarray  # (24,) share of the reference events per hour (UTC)
    top_category: dict[str, str]  # item -> first level of its category path
    num_categories: int
    catalog_size: int

    @classmethod
    def from_events(cls, events: pd.DataFrame, catalog: Catalog) -> BehaviourReference:
        """Statistics of `events` (user_id, item_id, timestamp, event, value) over `catalog`."""
        items = events["item_id"].astype(str)
        counts = items.value_counts()
        values = events["value"].astype(np.float64)
        means = values.groupby(items).mean()
        hours = np.bincount(_hours(events["timestamp"].to_numpy(np.int64)), minlength=24)
        cats = catalog.items.set_index(catalog.items["item_id"].astype(str))["category"]
        top = cats.fillna("").astype(str).str.split(CATEGORY_SEPARATOR).str[0]
        return cls(counts.to_dict(), means.to_dict(), float(values.mean()) if len(values) else 1.0,
                   (float(values.min()), float(values.max())) if len(values) else (1.0, 1.0),
                   float(np.median(counts.to_numpy())) if len(counts) else 1.0,
                   hours / max(hours.sum(), 1), top.to_dict(), max(int(top.nunique()), 1),
                   len(catalog.items))


def _hours(ts: np.ndarray) -> np.ndarray:
    return (ts // 3600) % 24


def _table(codes: np.ndarray, buckets: np.ndarray, users: int, width: int) -> np.ndarray:
    """(users, width) counts of each user's events per bucket (a crosstab, without pandas'
    fixed cost, which dominated scoring one live user)."""
    flat = codes.astype(np.int64) * width + buckets
    return np.bincount(flat, minlength=users * width).reshape(users, width).astype(np.float64)


def _entropy(counts: np.ndarray, buckets: int) -> np.ndarray:
    """Shannon entropy of each row of a count table over `buckets` buckets, in [0, 1]."""
    p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    h = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(axis=1)
    return h / np.log(max(buckets, 2))


def _per_minute_peak(users: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Per event (sorted by user then time): events of the same user in the next 60 s."""
    key = users.astype(np.int64) * 10**11 + (ts - ts.min())
    return np.searchsorted(key, key + 60, side="left") - np.arange(len(key))


def behaviour_features(events: pd.DataFrame, ref: BehaviourReference,
                       in_reference: bool = False) -> pd.DataFrame:
    """One row per user of `events` (user_id, item_id, timestamp, event, value), one column
    per BEHAVIOUR_FEATURES name, in that order. `in_reference`: the users' events are part of
    `ref` (calibration), so each user's own events are taken out of the item statistics they
    are compared with, as they are for any new user."""
    frame = events[list(INTERACTION_COLUMNS)].copy()
    frame["user_id"] = frame["user_id"].astype(str)
    frame["item_id"] = frame["item_id"].astype(str)
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    codes, users = pd.factorize(frame["user_id"], sort=True)
    ts = frame["timestamp"].to_numpy(np.int64)
    by = frame.groupby(codes, sort=True)
    out = pd.DataFrame(index=pd.Index(users, name="user_id"))
    n = by.size().to_numpy()
    out["log_events"] = np.log1p(n)
    out["peak_per_minute"] = pd.Series(_per_minute_peak(codes, ts)).groupby(codes).max().values
    gap = np.diff(ts, prepend=ts[0]).astype(np.float64)
    first = np.r_[True, codes[1:] != codes[:-1]]
    gaps = pd.Series(np.where(first, np.nan, gap))
    mu, sd = gaps.groupby(codes).mean(), gaps.groupby(codes).std(ddof=0)
    out["burstiness"] = ((sd - mu) / (sd + mu).replace(0, np.nan)).fillna(0).values
    out["gap_median"] = np.log1p(gaps.groupby(codes).median().fillna(0).values)
    _item_features(out, frame, codes, ref, in_reference)
    hours = _table(codes, _hours(ts), len(users), 24)
    out["hour_entropy"] = _entropy(hours, 24)
    share = hours / n[:, None]
    out["hour_typicality"] = np.minimum(share, ref.hour_profile[None, :]).sum(axis=1)
    session = np.cumsum(first | (gap > SESSION_GAP_S))
    lengths = pd.Series(1, index=session).groupby(level=0).size()
    owner = pd.Series(codes).groupby(session).first()
    per_user = lengths.groupby(owner.values)
    out["sessions"] = np.log1p(per_user.size().values)
    out["session_mean"] = np.log1p(per_user.mean().values)
    out["session_max"] = np.log1p(per_user.max().values)
    out["purchase_share"] = (frame["event"].astype(str) == "purchase").groupby(codes).mean().values
    return out[list(BEHAVIOUR_FEATURES)].astype(np.float64)


def _item_stats(frame: pd.DataFrame, codes: np.ndarray, ref: BehaviourReference,
                in_reference: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per event: its item's event count and mean value in `ref` (without the user's own
    events when `in_reference`)."""
    items = frame["item_id"]
    count = items.map(ref.item_count).fillna(0).to_numpy(np.float64)
    mean = items.map(ref.item_mean).fillna(ref.global_mean).to_numpy(np.float64)
    if in_reference:
        own = frame["value"].astype(np.float64).groupby([codes, items.to_numpy()])
        own_n, own_sum = own.transform("size").to_numpy(), own.transform("sum").to_numpy()
        total = mean * count - own_sum
        count = np.maximum(count - own_n, 0)
        mean = np.where(count > 0, total / np.maximum(count, 1), ref.global_mean)
    return count, mean


def _item_features(out: pd.DataFrame, frame: pd.DataFrame, codes: np.ndarray,
                   ref: BehaviourReference, in_reference: bool) -> None:
    """The features that compare a user's items with the shop's (popularity, values)."""
    items = frame["item_id"]
    count, mean = _item_stats(frame, codes, ref, in_reference)
    value = frame["value"].to_numpy(np.float64)
    lo, hi = ref.value_range
    by = pd.DataFrame({
        "dev": np.abs(value - mean) / max(hi - lo, 1e-9),
        "extreme": ((value <= lo) | (value >= hi)) & (hi > lo),
        "tail": count < ref.tail_cut, "pop": np.log1p(count)}).groupby(codes)
    out["value_deviation"] = by["dev"].mean().values
    out["extreme_share"] = by["extreme"].mean().values
    out["tail_share"] = by["tail"].mean().values
    out["popularity_mean"] = by["pop"].mean().values
    distinct = items.groupby(codes).nunique().to_numpy()
    out["distinct_share"] = distinct / out["log_events"].map(np.expm1).round().to_numpy()
    out["coverage"] = distinct / max(ref.catalog_size, 1)
    top, _ = pd.factorize(items.map(ref.top_category).fillna(""))
    cats = _table(codes, top, len(out), int(top.max()) + 1 if len(top) else 1)
    out["category_entropy"] = _entropy(cats, ref.num_categories)
