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

# One leaf category per line: path | nouns | adjectives | sizes | price range | repeat days
# (0 = durable; otherwise a consumable that shoppers re-buy about every that many days).
_LEAVES = """
Outdoor > Hiking > Backpacks | Hiking Backpack, Daypack, Trekking Pack | Trail, Ultralight, Waterproof, Alpine, Hydration | 20L, 30L, 45L, 60L | 35-240 | 0
Outdoor > Hiking > Boots | Hiking Boots, Trail Shoes, Trekking Boots | Waterproof, Leather, Lightweight, Mid-Cut, Gore-Tex | Size 8, Size 9, Size 10, Size 11 | 60-260 | 0
Outdoor > Camping > Tents | Camping Tent, Backpacking Tent, Dome Tent | 2-Person, 4-Person, Ultralight, Weatherproof, Pop-Up | 3-Season, 4-Season | 70-600 | 0
Outdoor > Camping > Stove Fuel | Camp Stove Fuel Canister, Isobutane Fuel | Butane, Propane Blend, Cold-Weather | 100g, 230g, 450g | 5-15 | 30
Kitchen > Coffee > Grinders | Coffee Grinder, Burr Grinder, Espresso Grinder | Conical Burr, Manual, Electric, Stainless, Precision | 40mm, 64mm | 25-450 | 0
Kitchen > Coffee > Beans | Whole Bean Coffee, Espresso Roast, Coffee Beans | Dark Roast, Medium Roast, Single-Origin, Organic, Decaf | 250g, 500g, 1kg | 8-40 | 21
Kitchen > Cookware > Pans | Frying Pan, Skillet, Saute Pan | Cast Iron, Nonstick, Stainless Steel, Carbon Steel, Ceramic | 8 inch, 10 inch, 12 inch | 15-180 | 0
Kitchen > Cookware > Knives | Chef Knife, Santoku Knife, Knife Set | Japanese Steel, Forged, Damascus, Ergonomic, Stainless | 6 inch, 8 inch, 5-Piece | 15-300 | 0
Beauty > Skincare > Serums | Face Serum, Vitamin C Serum, Hyaluronic Serum | Brightening, Hydrating, Anti-Aging, Retinol, Niacinamide | 15ml, 30ml, 50ml | 9-95 | 45
Beauty > Skincare > Moisturizers | Face Moisturizer, Night Cream, Day Cream | Hydrating, Oil-Free, SPF 30, Ceramide, Fragrance-Free | 50ml, 75ml | 8-80 | 40
Beauty > Makeup > Lipstick | Lipstick, Liquid Lipstick, Lip Tint | Matte, Satin, Long-Wear, Nude, Ruby Red | 3.5g, 5ml | 6-45 | 60
Beauty > Hair Care > Shampoo | Shampoo, Conditioner, Hair Mask | Sulfate-Free, Volumizing, Repairing, Argan Oil, Curl | 250ml, 500ml | 5-40 | 30
Electronics > Audio > Headphones | Headphones, Earbuds, Headset | Wireless, Noise-Cancelling, Bluetooth, Over-Ear, Sport | 20h Battery, 40h Battery | 20-400 | 0
Electronics > Audio > Speakers | Bluetooth Speaker, Smart Speaker, Soundbar | Portable, Waterproof, Stereo, Bass Boost, Wi-Fi | 10W, 30W, 60W | 25-350 | 0
Electronics > Computer Accessories > Keyboards | Mechanical Keyboard, Wireless Keyboard, Gaming Keyboard | RGB, Low-Profile, Tenkeyless, Ergonomic, Silent | Full-Size, 75% | 25-220 | 0
Electronics > Computer Accessories > Mice | Wireless Mouse, Gaming Mouse, Ergonomic Mouse | Rechargeable, Silent, High-DPI, Vertical, Bluetooth | 4000 DPI, 16000 DPI | 10-150 | 0
Home > Bedding > Sheets | Sheet Set, Duvet Cover, Fitted Sheet | Cotton, Linen, Bamboo, Percale, Sateen | Twin, Queen, King | 25-250 | 0
Home > Bedding > Pillows | Pillow, Memory Foam Pillow, Body Pillow | Cooling, Down Alternative, Hypoallergenic, Firm, Soft | Standard, King | 15-120 | 0
Home > Cleaning > Detergent | Laundry Detergent, Dish Soap, All-Purpose Cleaner | Eco, Fragrance-Free, Concentrated, Lavender, Citrus | 1L, 2L, 64 Loads | 4-30 | 28
Home > Lighting > Lamps | Desk Lamp, Floor Lamp, Table Lamp | LED, Dimmable, Modern, Vintage, Smart | 8W, 12W | 20-220 | 0
Sports > Running > Running Shoes | Running Shoes, Trail Running Shoes, Racing Flats | Cushioned, Lightweight, Stability, Carbon Plate, Breathable | Size 8, Size 9, Size 10, Size 11 | 50-250 | 0
Sports > Running > Apparel | Running Shorts, Running Tee, Running Jacket | Moisture-Wicking, Reflective, Lightweight, Seamless, Windproof | S, M, L, XL | 15-120 | 0
Sports > Yoga > Mats | Yoga Mat, Exercise Mat, Travel Yoga Mat | Non-Slip, Extra Thick, Cork, Eco, Foldable | 4mm, 6mm | 15-130 | 0
Sports > Nutrition > Protein | Whey Protein, Plant Protein, Protein Bars | Chocolate, Vanilla, Unflavored, Low-Sugar, Grass-Fed | 1kg, 2kg, 12-Pack | 15-70 | 30
Pets > Dogs > Dog Food | Dry Dog Food, Wet Dog Food, Puppy Food | Grain-Free, Salmon, Chicken, Senior, High-Protein | 2kg, 6kg, 12kg | 12-90 | 30
Pets > Dogs > Dog Toys | Chew Toy, Rope Toy, Fetch Ball | Durable, Squeaky, Interactive, Rubber, Plush | Small, Large | 5-35 | 0
Pets > Cats > Cat Litter | Cat Litter, Clumping Litter, Litter Pellets | Unscented, Odor Control, Clumping, Pine, Low-Dust | 5kg, 10kg | 8-35 | 21
Pets > Cats > Scratchers | Cat Scratcher, Cat Tree, Scratching Post | Sisal, Cardboard, Multi-Level, Compact, Wall-Mounted | Small, Large | 12-160 | 0
Baby > Diapering > Diapers | Diapers, Diaper Pants, Swim Diapers | Ultra-Soft, Overnight, Eco, Hypoallergenic, Leak-Proof | Size 1, Size 3, Size 5 | 10-50 | 14
Baby > Diapering > Wipes | Baby Wipes, Sensitive Wipes, Water Wipes | Unscented, Aloe, Plant-Based, Thick, Travel | 72-Count, 12-Pack | 3-25 | 14
Baby > Nursery > Strollers | Stroller, Jogging Stroller, Travel System | Lightweight, Foldable, All-Terrain, Compact, Reversible | Single, Double | 90-700 | 0
Baby > Nursery > Baby Monitors | Baby Monitor, Video Monitor, Audio Monitor | Wi-Fi, Night Vision, Two-Way Audio, Smart, Long-Range | 720p, 1080p | 25-250 | 0
"""  # noqa: E501 (a table reads better one leaf per line)
_BRANDS = {
    "Outdoor": "Trailpeak, Northridge, Summitco, Pinecrest, Ridgeline, Cascade Gear",
    "Kitchen": "Brewmaster, Casa Cucina, Ironleaf, Kettle & Co, Roastwell, Chefline",
    "Beauty": "Lumiere, Glowlab, Petal & Pine, Dermaclear, Velvetine, Aurora Skin",
    "Electronics": "Voltix, Sonara, Keystone Labs, Pixelon, Amperio, Nordwave",
    "Home": "Hearth & Home, Linenly, Brightnest, Cozyway, Puraclean, Oakhaven",
    "Sports": "Stridex, Peakform, Zenflow, Ironpulse, Sprintline, Corevia",
    "Pets": "Pawsome, Whiskerwell, Barkley, Furbest, Happy Tails, Purrfect",
    "Baby": "Little Sprout, Cuddlebug, Tinytoes, Nestling, Babybloom, Snugglepod",
}
_MID_PHRASES = {
    "Hiking": "Built for long days on the trail.",
    "Camping": "Made for nights under the stars.",
    "Coffee": "Brews a rich, aromatic cup every morning.",
    "Cookware": "A kitchen essential for everyday cooking.",
    "Skincare": "Gentle on skin and dermatologist tested.",
    "Makeup": "Rich color that lasts all day.",
    "Hair Care": "Leaves hair soft, shiny and healthy.",
    "Audio": "Crisp, immersive sound wherever you go.",
    "Computer Accessories": "Boosts comfort and productivity at your desk.",
    "Bedding": "Sleep better in soft, breathable comfort.",
    "Cleaning": "Cuts through grease and grime with ease.",
    "Lighting": "Warm, even light for any room.",
    "Running": "Engineered for every mile you run.",
    "Yoga": "Supports a calm, steady practice.",
    "Nutrition": "Fuels recovery after hard workouts.",
    "Dogs": "Keeps your dog happy and healthy.",
    "Cats": "Loved by curious cats everywhere.",
    "Diapering": "Gentle protection for sensitive skin.",
    "Nursery": "Designed with safety and comfort in mind.",
}
_TIERS = ("budget", "standard", "premium")
_TIER_PHRASES = (
    "Great value for everyday use.", "Reliable quality at a fair price.",
    "Premium materials with a lifetime warranty.",
)
_DAY = 86_400


@dataclass(frozen=True)
class _Leaf:
    path: tuple[str, str, str]
    nouns: list[str]
    adjectives: list[str]
    sizes: list[str]
    price: tuple[float, float]
    repeat_days: int


def _parse_leaves() -> list[_Leaf]:
    leaves = []
    for line in _LEAVES.strip().splitlines():
        path, nouns, adjs, sizes, price, repeat = (p.strip() for p in line.split("|"))
        lo, hi = price.split("-")
        split = lambda s: [w.strip() for w in s.split(",")]  # noqa: E731
        leaves.append(_Leaf(tuple(path.split(CATEGORY_SEPARATOR)), split(nouns), split(adjs),
                            split(sizes), (float(lo), float(hi)), int(repeat)))
    return leaves


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


def _make_catalog(cfg: SyntheticShopConfig, leaves: list[_Leaf], rng: np.random.Generator):
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
        brand = _BRANDS[top].split(", ")[brand_idx[i]]
        noun, adj, size = (x[rng.integers(len(x))] for x in (lf.nouns, lf.adjectives, lf.sizes))
        lo, hi = lf.price
        price = np.floor(lo * (hi / lo) ** ((tier[i] + rng.random()) / 3)) + 0.99
        rows.append({
            "item_id": f"{top[:3].upper()}-{mid[:3].upper()}-{i:05d}",
            "title": f"{brand} {adj} {noun} {size}",
            "brand": brand,
            "category": CATEGORY_SEPARATOR.join(lf.path),
            "price": float(price),
            "description": f"{adj} {noun.lower()} by {brand}, {size}. {_MID_PHRASES[mid]} "
                           f"{_TIER_PHRASES[tier[i]]}",
            "attributes": json.dumps({"price_tier": _TIERS[tier[i]], "size": size,
                                      "consumable": lf.repeat_days > 0}),
        })
    return pd.DataFrame(rows), leaf, tier, popularity


def _user_tastes(cfg: SyntheticShopConfig, leaves: list[_Leaf], has_items: np.ndarray,
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
    leaves = _parse_leaves()
    items, item_leaf, item_tier, popularity = _make_catalog(cfg, leaves, rng)
    n_leaves = len(leaves)
    has_items = np.bincount(item_leaf, minlength=n_leaves) > 0

    # Sessions: spread the event budget over shoppers with a long-tailed activity level.
    p_click, p_cart, p_buy = cfg.funnel
    per_view = 1 + p_click * (1 + p_cart * (1 + p_buy))
    n_sessions = max(cfg.num_users, round(cfg.target_events / (per_view * cfg.views_per_session)))
    activity = rng.lognormal(0.0, 1.0, size=cfg.num_users)
    per_user = 1 + rng.multinomial(n_sessions - cfg.num_users, activity / activity.sum())
    s_user = np.repeat(np.arange(cfg.num_users), per_user)
    s_frac = rng.random(len(s_user))  # position in the time span, 0..1
    # Taste drift: later sessions come more often from a second, later taste.
    early, late = (_user_tastes(cfg, leaves, has_items, rng) for _ in range(2))
    use_late = rng.random(len(s_user)) < cfg.taste_drift * s_frac
    s_leaf = _sample_rows(np.where(use_late[:, None], late[s_user], early[s_user]), rng)
    user_tier = rng.choice(3, size=cfg.num_users, p=[0.35, 0.4, 0.25])

    # Views: each in the session's category, or (cross-sell) a sibling in the same top category.
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
    span = cfg.days * _DAY - 4 * 3600  # leave room for a session's last events
    v_time = ((s_frac[v_session] * span).astype(np.int64) + v_rank * 150
              + rng.integers(0, 90, len(v_leaf)))

    # Funnel: click, add_to_cart and purchase follow their view within minutes.
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

    # Consumables: each purchase is re-bought every cycle with repeat_probability, in the span.
    repeat_days = np.array([lf.repeat_days for lf in leaves])[item_leaf]
    buy = np.flatnonzero((event == 3) & (repeat_days[item] > 0))
    n_rep = np.minimum(rng.geometric(1 - cfg.repeat_probability, size=len(buy)) - 1, 6) \
        if cfg.repeat_probability < 1 else np.full(len(buy), 6)
    r_src = np.repeat(buy, n_rep)
    r_cycle = np.arange(len(r_src)) - np.repeat(np.cumsum(n_rep) - n_rep, n_rep) + 1
    r_time = time[r_src] + (r_cycle * repeat_days[item[r_src]] * _DAY
                            * rng.uniform(0.8, 1.2, len(r_src))).astype(np.int64)
    keep = r_time < span
    r_src, r_time = r_src[keep], r_time[keep]
    user = np.concatenate([user, user[r_src], user[r_src]])
    item = np.concatenate([item, item[r_src], item[r_src]])
    time = np.concatenate([time, r_time - rng.integers(30, 300, len(r_src)), r_time])
    event = np.concatenate([event, np.full(len(r_src), 2), np.full(len(r_src), 3)])

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
