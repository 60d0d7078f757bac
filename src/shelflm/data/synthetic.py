"""A synthetic demo shop: the embedded default data, deterministic by seed, built in seconds.

Its structure follows real e-commerce so that both text and behaviour carry signal: a
category tree with category-specific vocabularies (a language model sees that "Trailpeak
Waterproof Hiking Backpack 30L" relates to "Northridge Leather Hiking Boots"), brands and
price tiers, shoppers with latent tastes over categories and price, sessions that run
view -> click -> add_to_cart -> purchase, a long-tailed popularity curve, repeat purchases
of consumables and taste drift over the months.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shelflm.data.schema import CATEGORY_SEPARATOR, Catalog, Dataset, Interactions
from shelflm.data.shop_vocabulary import (
    BRANDS,
    MID_PHRASES,
    TIER_PHRASES,
    TIERS,
    Leaf,
    parse_leaves,
)

_DAY = 86_400


@dataclass
class SyntheticShopConfig:
    """Size and behaviour of the synthetic demo shop; every field is validated on creation."""

    num_users: int = field(default=3000, metadata={"help": "Number of shoppers."})
    num_items: int = field(default=3000, metadata={"help": "Number of products in the catalog."})
    target_events: int = field(
        default=100_000, metadata={"help": "Approximate number of events to generate."})
    seed: int = field(
        default=0, metadata={"help": "Random seed; the same seed gives the same shop."})
    days: int = field(default=120, metadata={"help": "Time span of the events in days."})
    start_time: int = field(
        default=1_704_067_200, metadata={"help": "Unix seconds of the first day (2024-01-01 UTC)."})
    views_per_session: float = field(
        default=4.0, metadata={"help": "Mean number of product views in a session (>= 1)."})
    funnel: tuple[float, float, float] = field(
        default=(0.45, 0.35, 0.6),
        metadata={"help": "Probabilities view->click, click->add_to_cart, add_to_cart->purchase."})
    popularity_exponent: float = field(
        default=0.9,
        metadata={"help": "Zipf exponent of item popularity (0 = flat, larger = longer tail)."})
    price_sensitivity: float = field(
        default=1.2,
        metadata={"help": "How strongly shoppers avoid price tiers far from their own."})
    cross_sell: float = field(
        default=0.2, metadata={"help": "Chance that a view in a session is in a sibling category."})
    repeat_probability: float = field(
        default=0.5, metadata={"help": "Chance that a consumable is re-bought after each cycle."})
    taste_drift: float = field(
        default=0.4,
        metadata={"help": "Share of sessions drawn from a shopper's later taste by the end."})

    def __post_init__(self) -> None:
        for name in ("num_users", "num_items", "target_events", "days"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"SyntheticShopConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.views_per_session < 1:
            raise ValueError(
                f"SyntheticShopConfig.views_per_session must be >= 1, got {self.views_per_session}")
        probs = {"cross_sell": self.cross_sell, "repeat_probability": self.repeat_probability,
                 "taste_drift": self.taste_drift}
        if len(self.funnel) != 3:
            raise ValueError(f"SyntheticShopConfig.funnel needs 3 probabilities, got {self.funnel}")
        probs.update({f"funnel[{i}]": p for i, p in enumerate(self.funnel)})
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"SyntheticShopConfig.{name} must be in [0, 1], got {p}")
        if self.popularity_exponent < 0 or self.price_sensitivity < 0:
            raise ValueError("SyntheticShopConfig.popularity_exponent and price_sensitivity "
                             "must be >= 0")


def _make_catalog(cfg: SyntheticShopConfig, leaves: list[Leaf], rng: np.random.Generator):
    """Items with leaf, price tier and popularity; returns (items frame, leaf, tier, popularity)."""
    n, n_leaves = cfg.num_items, len(leaves)
    leaf = rng.choice(n_leaves, size=n, p=rng.dirichlet(np.full(n_leaves, 3.0)))
    leaf[: min(n, n_leaves)] = rng.permutation(n_leaves)[: min(n, n_leaves)]  # no empty leaf
    brand_idx = rng.integers(0, 6, size=n)
    # A brand has a home tier (budget/standard/premium) that most of its products share.
    tier = np.where(rng.random(n) < 0.7, brand_idx % 3, rng.integers(0, 3, size=n))
    # Zipf over the rank within the item's category: sampling is per category, so a global
    # rank would hand almost a whole category to its single best-ranked item.
    rank = np.empty(n)
    for lf in np.unique(leaf):
        members = np.flatnonzero(leaf == lf)
        rank[members] = rng.permutation(len(members)) + 1.0
    popularity = rank ** -cfg.popularity_exponent
    rows = []
    for i in range(n):
        lf = leaves[leaf[i]]
        top, mid, _ = lf.path
        brand = BRANDS[top].split(", ")[brand_idx[i]]
        noun, adj, size = (x[rng.integers(len(x))] for x in (lf.nouns, lf.adjectives, lf.sizes))
        lo, hi = lf.price
        price = np.floor(lo * (hi / lo) ** ((tier[i] + rng.random()) / 3)) + 0.99
        rows.append({
            "item_id": f"{top[:3].upper()}-{mid[:3].upper()}-{i:05d}",
            "title": f"{brand} {adj} {noun} {size}",
            "brand": brand,
            "category": CATEGORY_SEPARATOR.join(lf.path),
            "price": float(price),
            "description": f"{adj} {noun.lower()} by {brand}, {size}. {MID_PHRASES[mid]} "
                           f"{TIER_PHRASES[tier[i]]}",
            "attributes": json.dumps({"price_tier": TIERS[tier[i]], "size": size,
                                      "consumable": lf.repeat_days > 0}),
        })
    return pd.DataFrame(rows), leaf, tier, popularity


def _user_tastes(cfg: SyntheticShopConfig, leaves: list[Leaf], has_items: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """(num_users, num_leaves) category preferences: a few favourite top categories each."""
    tops = sorted({lf.path[0] for lf in leaves})
    leaf_top = np.array([tops.index(lf.path[0]) for lf in leaves])
    top_pref = rng.dirichlet(np.full(len(tops), 0.25), size=cfg.num_users)
    leaf_pref = rng.dirichlet(np.full(len(leaves), 0.6), size=cfg.num_users)
    taste = top_pref[:, leaf_top] * leaf_pref * has_items + 0.002 * has_items  # some exploring
    return taste / taste.sum(axis=1, keepdims=True)


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    below = probs.cumsum(axis=1) < rng.random((len(probs), 1))
    return below.sum(axis=1).clip(0, probs.shape[1] - 1)


def generate_shop(config: SyntheticShopConfig | None = None) -> Dataset:
    """Generate the synthetic demo shop described by `config` (the default: ~100k events)."""
    cfg = config or SyntheticShopConfig()
    rng = np.random.default_rng(cfg.seed)
    leaves = parse_leaves()
    items, item_leaf, item_tier, popularity = _make_catalog(cfg, leaves, rng)
    has_items = np.bincount(item_leaf, minlength=len(leaves)) > 0
    s_user, s_frac, s_leaf, user_tier = _sessions(cfg, leaves, has_items, rng)
    v_user, v_item, v_time = _views(cfg, leaves, has_items, (s_user, s_frac, s_leaf),
                                    (item_leaf, item_tier, popularity, user_tier), rng)
    user, item, time, event = _funnel(cfg, v_user, v_item, v_time, rng)
    repeat_days = np.array([lf.repeat_days for lf in leaves])[item_leaf]
    user, item, time, event = _repeat_purchases(cfg, repeat_days, (user, item, time, event), rng)

    order = np.lexsort((event, time, user))  # the funnel order breaks any tie in time
    user, item, time, event = user[order], item[order], time[order], event[order]
    value = np.where(event == 3, 1 + (rng.random(len(event)) < 0.15), 1).astype(np.float32)
    names = np.array(["view", "click", "add_to_cart", "purchase"])
    frame = pd.DataFrame({
        "user_id": np.char.add("u", np.char.zfill(user.astype(str), 6)),
        "item_id": items["item_id"].to_numpy()[item],
        "timestamp": cfg.start_time + time,
        "event": names[event],
        "value": value,
    })
    return Dataset("synthetic-shop", Catalog.from_frame(items, "synthetic catalog"),
                   Interactions.from_frame(frame, "synthetic events"))


def hidden_item_factors(config: SyntheticShopConfig | None = None) -> dict[str, np.ndarray]:
    """Per catalog row of `generate_shop(config)`: the generator's hidden item factors, its
    leaf category index, price tier (0-2) and popularity weight (benchmarks derive side
    information from them, e.g. an image-like vector)."""
    cfg = config or SyntheticShopConfig()
    # generate_shop draws the catalog first from the seed's generator: the same draws here.
    _, leaf, tier, popularity = _make_catalog(cfg, parse_leaves(), np.random.default_rng(cfg.seed))
    return {"leaf": leaf, "tier": tier, "popularity": popularity}


def _span(cfg: SyntheticShopConfig) -> int:
    return cfg.days * _DAY - 4 * 3600  # leave room for a session's last events


def _sessions(cfg: SyntheticShopConfig, leaves: list[Leaf], has_items: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(user, position in the time span 0..1, leaf) per session, and each user's price tier."""
    # Spread the event budget over shoppers with a long-tailed activity level.
    p_click, p_cart, p_buy = cfg.funnel
    per_view = 1 + p_click * (1 + p_cart * (1 + p_buy))
    n_sessions = max(cfg.num_users, round(cfg.target_events / (per_view * cfg.views_per_session)))
    activity = rng.lognormal(0.0, 1.0, size=cfg.num_users)
    per_user = 1 + rng.multinomial(n_sessions - cfg.num_users, activity / activity.sum())
    s_user = np.repeat(np.arange(cfg.num_users), per_user)
    s_frac = rng.random(len(s_user))
    # Taste drift: later sessions come more often from a second, later taste.
    early, late = (_user_tastes(cfg, leaves, has_items, rng) for _ in range(2))
    use_late = rng.random(len(s_user)) < cfg.taste_drift * s_frac
    s_leaf = _sample_rows(np.where(use_late[:, None], late[s_user], early[s_user]), rng)
    user_tier = rng.choice(3, size=cfg.num_users, p=[0.35, 0.4, 0.25])
    return s_user, s_frac, s_leaf, user_tier


def _views(cfg: SyntheticShopConfig, leaves: list[Leaf], has_items: np.ndarray,
           sessions: tuple[np.ndarray, ...], item_info: tuple[np.ndarray, ...],
           rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(user, item, time) per view: each in the session's category, or (cross-sell) a
    sibling in the same top category, drawn by popularity and closeness in price tier."""
    s_user, s_frac, s_leaf = sessions
    item_leaf, item_tier, popularity, user_tier = item_info
    n_leaves = len(leaves)
    n_views = 1 + rng.poisson(cfg.views_per_session - 1, size=len(s_user))
    v_session = np.repeat(np.arange(len(s_user)), n_views)
    v_rank = np.arange(len(v_session)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    v_leaf = s_leaf[v_session].copy()
    siblings = [[j for j in range(n_leaves) if has_items[j] and j != i
                 and leaves[j].path[0] == leaves[i].path[0]] or [i] for i in range(n_leaves)]
    cross = np.flatnonzero(rng.random(len(v_leaf)) < cfg.cross_sell)
    v_leaf[cross] = [siblings[k][rng.integers(len(siblings[k]))] for k in v_leaf[cross]]
    v_user = s_user[v_session]
    v_item = np.empty(len(v_leaf), dtype=np.int64)
    group = v_leaf * 3 + user_tier[v_user]
    for g in np.unique(group):  # one weighted draw per (category, shopper price tier)
        rows = np.flatnonzero(group == g)
        cand = np.flatnonzero(item_leaf == g // 3)
        w = popularity[cand] * np.exp(-cfg.price_sensitivity * np.abs(item_tier[cand] - g % 3))
        v_item[rows] = rng.choice(cand, size=len(rows), p=w / w.sum())
    v_time = ((s_frac[v_session] * _span(cfg)).astype(np.int64) + v_rank * 150
              + rng.integers(0, 90, len(v_leaf)))
    return v_user, v_item, v_time


def _funnel(cfg: SyntheticShopConfig, v_user: np.ndarray, v_item: np.ndarray,
            v_time: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(user, item, time, event code) of the views and the click, add_to_cart and purchase
    that follow them within minutes."""
    p_click, p_cart, p_buy = cfg.funnel
    clicked = rng.random(len(v_item)) < p_click
    carted = clicked & (rng.random(len(v_item)) < p_cart)
    bought = carted & (rng.random(len(v_item)) < p_buy)
    gaps = np.cumsum(rng.integers(5, 60, size=(len(v_item), 3)), axis=1)
    parts = [(np.ones_like(clicked), v_time, 0)]
    parts += [(m, v_time + gaps[:, k], k + 1) for k, m in enumerate((clicked, carted, bought))]
    user = np.concatenate([v_user[m] for m, _, _ in parts])
    item = np.concatenate([v_item[m] for m, _, _ in parts])
    time = np.concatenate([t[m] for m, t, _ in parts])
    event = np.concatenate([np.full(m.sum(), code) for m, _, code in parts])
    return user, item, time, event


def _repeat_purchases(cfg: SyntheticShopConfig, repeat_days: np.ndarray,
                      events: tuple[np.ndarray, ...], rng: np.random.Generator
                      ) -> tuple[np.ndarray, ...]:
    """`events` plus consumables re-bought (add_to_cart, purchase) every cycle with
    repeat_probability, within the span; `repeat_days` is per item (0 = durable)."""
    user, item, time, event = events
    buy = np.flatnonzero((event == 3) & (repeat_days[item] > 0))
    n_rep = np.minimum(rng.geometric(1 - cfg.repeat_probability, size=len(buy)) - 1, 6) \
        if cfg.repeat_probability < 1 else np.full(len(buy), 6)
    r_src = np.repeat(buy, n_rep)
    r_cycle = np.arange(len(r_src)) - np.repeat(np.cumsum(n_rep) - n_rep, n_rep) + 1
    r_time = time[r_src] + (r_cycle * repeat_days[item[r_src]] * _DAY
                            * rng.uniform(0.8, 1.2, len(r_src))).astype(np.int64)
    keep = r_time < _span(cfg)
    r_src, r_time = r_src[keep], r_time[keep]
    user = np.concatenate([user, user[r_src], user[r_src]])
    item = np.concatenate([item, item[r_src], item[r_src]])
    time = np.concatenate([time, r_time - rng.integers(30, 300, len(r_src)), r_time])
    event = np.concatenate([event, np.full(len(r_src), 2), np.full(len(r_src), 3)])
    return user, item, time, event
