"""The synthetic demo shop: deterministic, e-commerce-shaped, and with signal a model can learn."""

import json

import numpy as np
import pandas as pd
import pytest

from shelflm.data.schema import CATEGORY_SEPARATOR, EVENT_TYPES
from shelflm.data.splits import LeaveOneOutSplit
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

SMALL = SyntheticShopConfig(num_users=300, num_items=400, target_events=10_000, seed=7)


@pytest.fixture(scope="module")
def shop():
    """The default-sized shop (about 100k events), built once for this module."""
    return generate_shop(SyntheticShopConfig())


def test_default_size_is_a_few_thousand_users_and_items_and_about_100k_events(shop):
    assert shop.num_users == 3000 and shop.num_items == 3000
    assert 80_000 <= len(shop.interactions) <= 120_000


def test_same_seed_same_shop_and_other_seed_other_shop():
    a, b, c = generate_shop(SMALL), generate_shop(SMALL), generate_shop(
        SyntheticShopConfig(num_users=300, num_items=400, target_events=10_000, seed=8))
    pd.testing.assert_frame_equal(a.interactions.events, b.interactions.events)
    pd.testing.assert_frame_equal(a.catalog.items, b.catalog.items)
    assert not a.catalog.items["title"].equals(c.catalog.items["title"])


def test_ids_catalog_text_and_time_span_look_like_a_shop():
    cfg = SMALL
    shop = generate_shop(cfg)
    items, events = shop.catalog.items, shop.interactions.events
    assert events["user_id"].str.fullmatch(r"u\d{6}").all()
    assert items["item_id"].str.fullmatch(r"[A-Z]{3}-[A-Z]{3}-\d{5}").all()
    paths = items["category"].str.split(CATEGORY_SEPARATOR)
    assert (paths.str.len() == 3).all()
    assert paths.str[0].nunique() >= 6  # top categories
    assert items["category"].nunique() >= 20  # leaves
    assert (items["price"] > 0).all() and (items["brand"] != "").all()
    assert (items["description"].str.len() > 40).all()
    assert all(isinstance(json.loads(a)["consumable"], bool) for a in items["attributes"])
    # Titles carry their category: hiking backpacks and boots share "Hiking".
    hiking = items[items["category"].str.startswith("Outdoor > Hiking")]["title"]
    assert hiking.str.contains("Hiking").mean() > 0.3
    ts = events["timestamp"]
    assert ts.min() >= cfg.start_time and ts.max() < cfg.start_time + cfg.days * 86_400
    assert set(events["event"].astype(str)) <= set(EVENT_TYPES)


def test_titles_share_more_words_within_a_top_category_than_across():
    items = generate_shop(SMALL).catalog.items
    words = [set(t.lower().split()) for t in items["title"]]
    top = items["category"].str.split(CATEGORY_SEPARATOR).str[0].to_numpy()
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(items), size=(3000, 2))
    jac = np.array([len(words[a] & words[b]) / len(words[a] | words[b]) for a, b in pairs])
    same = top[pairs[:, 0]] == top[pairs[:, 1]]
    assert jac[same].mean() > 2 * jac[~same].mean()


def test_funnel_narrows_and_every_purchase_follows_an_add_to_cart():
    ev = generate_shop(SMALL).interactions.events
    counts = ev["event"].astype(str).value_counts()
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"] > 0
    carts = ev[ev["event"] == "add_to_cart"].groupby(["user_id", "item_id"])["timestamp"].min()
    buys = ev[ev["event"] == "purchase"].groupby(["user_id", "item_id"])["timestamp"].min()
    first_cart = carts.reindex(buys.index)
    assert first_cart.notna().all() and (first_cart < buys).all()


def test_popularity_is_long_tailed(shop):
    counts = np.sort(shop.interactions.events["item_id"].value_counts().to_numpy())[::-1]
    top_tenth = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_tenth > 0.35
    assert np.median(counts) < counts.mean()


def test_repeat_purchases_are_of_consumables(shop):
    ev, items = shop.interactions.events, shop.catalog.items
    buys = ev[ev["event"] == "purchase"].groupby(["user_id", "item_id"]).size()
    repeated = buys[buys >= 2].index.get_level_values("item_id").unique()
    consumable = items.set_index("item_id")["attributes"].map(lambda a: json.loads(a)["consumable"])
    assert len(repeated) > 20
    assert consumable.loc[repeated].mean() > 0.9


def _drift(shop) -> float:
    """Mean total-variation distance between each user's first- and second-half top categories."""
    ev = shop.interactions.events
    top = ev["item_id"].map(shop.catalog.items.set_index("item_id")["category"]).str.split(
        CATEGORY_SEPARATOR).str[0]
    mid = (ev["timestamp"].min() + ev["timestamp"].max()) / 2
    half = np.where(ev["timestamp"] < mid, "early", "late")
    share = pd.crosstab([ev["user_id"], half], top, normalize="index")
    both = share.index.get_level_values(0).value_counts()
    users = both[both == 2].index
    early = share.xs("early", level=1).loc[users]
    late = share.xs("late", level=1).loc[users]
    return float((early - late).abs().sum(axis=1).mean() / 2)


def test_taste_drift_moves_users_between_categories_over_time():
    base = dict(num_users=400, num_items=400, target_events=20_000, seed=3)
    still = _drift(generate_shop(SyntheticShopConfig(**base, taste_drift=0.0)))
    moving = _drift(generate_shop(SyntheticShopConfig(**base, taste_drift=1.0)))
    assert moving > still + 0.05


@pytest.mark.parametrize("bad", [
    {"num_users": 0}, {"num_items": -1}, {"views_per_session": 0.5},
    {"funnel": (0.5, 1.5, 0.5)}, {"funnel": (0.5, 0.5)}, {"taste_drift": -0.1},
])
def test_bad_config_names_the_field(bad):
    field = next(iter(bad))
    with pytest.raises(ValueError, match=field):
        SyntheticShopConfig(**bad)


def _hit_rate_at_10(scores: np.ndarray, cases) -> float:
    """Full-catalog HR@10 with pessimistic ties, history masked except the target."""
    for j, hist in enumerate(cases.histories):
        scores[j, hist[hist != cases.targets[j]]] = -np.inf
    target = scores[np.arange(len(cases)), cases.targets]
    return float(((scores >= target[:, None]).sum(axis=1) <= 10).mean())


@pytest.mark.parametrize("targets", [None, ("purchase",)])
def test_same_category_recency_beats_popularity(shop, targets):
    split = LeaveOneOutSplit(target_events=targets).split(shop)
    cases = split.test
    pop = np.bincount(split.train.encoded()["item"], minlength=shop.num_items).astype(float)
    category = pd.factorize(shop.catalog.items["category"])[0]
    personal = np.empty((len(cases), shop.num_items))
    for j, hist in enumerate(cases.histories):
        # A user's recent categories, decayed by recency; popularity breaks ties within one.
        affinity = np.bincount(category[hist], weights=0.8 ** np.arange(len(hist))[::-1],
                               minlength=category.max() + 1)
        personal[j] = affinity[category] + 1e-3 * pop / pop.max()
    hr_pop = _hit_rate_at_10(np.tile(pop, (len(cases), 1)), cases)
    hr_personal = _hit_rate_at_10(personal, cases)
    assert len(cases) > 1000
    assert hr_personal > 2 * hr_pop and hr_personal - hr_pop > 0.1
