"""Several shops as one training set: ids prefixed per shop, catalogs and events stacked."""

from __future__ import annotations

import pytest

from shelflm.data.shops import combine_shops
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop


def _shop(name: str, seed: int):
    shop = generate_shop(SyntheticShopConfig(num_users=12, num_items=10, target_events=90,
                                             seed=seed))
    shop.name = name
    return shop


def test_shops_keep_their_own_items_and_shoppers() -> None:
    a, b = _shop("a", 0), _shop("b", 1)  # the generator gives both the same id scheme
    assert set(a.item_ids) & set(b.item_ids)
    both = combine_shops([a, b])
    assert both.name == "a+b"
    assert both.num_items == a.num_items + b.num_items
    assert both.num_users == a.num_users + b.num_users
    assert len(both.interactions) == len(a.interactions) + len(b.interactions)
    first = a.item_ids[0]
    rows = both.catalog.items.set_index("item_id")
    assert rows.loc[f"a/{first}", "title"] == a.catalog.items.title.iloc[0]
    user = a.user_ids[0]
    mine = both.interactions.events[both.interactions.events.user_id == f"a/{user}"]
    theirs = a.interactions.events[a.interactions.events.user_id == user]
    assert mine.item_id.tolist() == ["a/" + i for i in theirs.item_id]
    assert mine.event.astype(str).tolist() == theirs.event.astype(str).tolist()


def test_combining_needs_two_differently_named_shops() -> None:
    with pytest.raises(ValueError, match="two or more"):
        combine_shops([_shop("a", 0)])
    with pytest.raises(ValueError, match="names must differ"):
        combine_shops([_shop("a", 0), _shop("a", 1)])
