"""Splits never leak: targets stay out of train, histories end before their target, cold is cold."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelflm.data.schema import EVENT_TYPES, Catalog, Dataset, Interactions
from shelflm.data.splits import (
    ColdStartItemSplit,
    EvalCases,
    LeaveOneOutSplit,
    Split,
    TemporalSplit,
)
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SPLITTERS = [
    LeaveOneOutSplit(),
    LeaveOneOutSplit(target_events=("purchase", "add_to_cart"), min_history=3),
    TemporalSplit(valid_fraction=0.15, test_fraction=0.15),
    ColdStartItemSplit(cold_fraction=0.2, seed=1),
]


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return generate_shop(SyntheticShopConfig(num_users=150, num_items=200,
                                             target_events=5000, seed=4))


def make_dataset(rows: list[tuple[str, str, int]], has_time: bool = True) -> Dataset:
    """A tiny dataset from (user, item, timestamp) purchase rows; the catalog holds items a-z."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": list("abcdefghijklmnopqrstuvwxyz"), "title": "t"})
    return Dataset("tiny", Catalog.from_frame(items), Interactions.from_frame(frame),
                   has_time=has_time)


def identities(frame: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(frame["user_id"], frame["item_id"], frame["timestamp"], strict=True))


def case_identities(dataset: Dataset, cases: EvalCases) -> set[tuple[str, str, int]]:
    users = dataset.user_ids[cases.users]
    items = dataset.item_ids[cases.targets]
    return set(zip(users, items, cases.target_times.tolist(), strict=True))


def assert_histories_are_everything_strictly_before(dataset: Dataset, cases: EvalCases) -> None:
    enc = dataset.encoded()
    by_user = {u: g for u, g in enc.groupby("user")}
    for j in range(len(cases)):
        g = by_user[cases.users[j]]
        before = g[g["timestamp"] < cases.target_times[j]]
        np.testing.assert_array_equal(cases.histories[j], before["item"].to_numpy())
        np.testing.assert_array_equal(cases.history_events[j], before["event_idx"].to_numpy())


@pytest.mark.parametrize("splitter", SPLITTERS, ids=lambda s: type(s).__name__)
def test_no_target_in_train_and_histories_end_strictly_before_target(shop, splitter):
    split = splitter.split(shop)
    train_ids = identities(split.train.interactions.events)
    assert train_ids <= identities(shop.interactions.events)
    for cases in (split.valid, split.test):
        assert len(cases) > 0
        targets = case_identities(shop, cases)
        assert targets <= identities(shop.interactions.events)  # real events
        assert not targets & train_ids
        assert_histories_are_everything_strictly_before(shop, cases)
        train_items = np.unique(split.train.encoded()["item"])
        np.testing.assert_array_equal(cases.target_is_cold, ~np.isin(cases.targets, train_items))
    # One index space: train keeps the original catalog and user index.
    assert split.train.item_ids.equals(shop.item_ids)
    assert split.train.user_ids.equals(shop.user_ids)
    assert len(split.train.sequences()) == shop.num_users


@pytest.mark.parametrize("splitter", SPLITTERS, ids=lambda s: type(s).__name__)
def test_splits_are_deterministic(shop, splitter):
    a, b = splitter.split(shop), splitter.split(shop)
    pd.testing.assert_frame_equal(a.train.interactions.events, b.train.interactions.events)
    for x, y in ((a.valid, b.valid), (a.test, b.test)):
        np.testing.assert_array_equal(x.targets, y.targets)
        np.testing.assert_array_equal(x.users, y.users)
    np.testing.assert_array_equal(a.cold_items, b.cold_items)


def test_target_events_pick_only_those_event_types(shop):
    split = LeaveOneOutSplit(target_events=("purchase",)).split(shop)
    events = shop.interactions.events
    buys = identities(events[events["event"] == "purchase"])
    assert case_identities(shop, split.test) <= buys
    assert case_identities(shop, split.valid) <= buys


def test_leave_one_out_takes_last_two_events_and_keeps_short_users_in_train():
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4),
            ("u2", "a", 1), ("u2", "e", 5),  # two events: train only
            ("u3", "f", 9)]  # one event: train only
    data = make_dataset(rows)
    split = LeaveOneOutSplit().split(data)
    u1 = data.user_ids.get_loc("u1")
    assert split.valid.users.tolist() == [u1] and split.test.users.tolist() == [u1]
    assert data.item_ids[split.valid.targets].tolist() == ["c"]
    assert data.item_ids[split.test.targets].tolist() == ["d"]
    assert data.item_ids[split.valid.histories[0]].tolist() == ["a", "b"]
    assert data.item_ids[split.test.histories[0]].tolist() == ["a", "b", "c"]  # train + valid
    assert len(split.train.interactions) == 5
    summary = split.summary()
    assert summary["users_without_cases"] == 2
    assert summary["train_interactions"] == 5 and summary["valid_cases"] == 1


def test_ties_in_time_never_put_a_same_second_event_in_a_history():
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 2), ("u1", "d", 2),
            ("u2", "a", 1), ("u2", "b", 2), ("u2", "b", 2), ("u2", "c", 3)]  # a duplicate
    data = make_dataset(rows)
    split = LeaveOneOutSplit().split(data)
    assert data.item_ids[split.test.histories[0]].tolist() == ["a"]
    assert data.item_ids[split.valid.histories[0]].tolist() == ["a"]
    assert data.item_ids[split.valid.targets[1]] == "b"
    assert data.item_ids[split.test.histories[1]].tolist() == ["a", "b", "b"]
    train = identities(split.train.interactions.events)
    assert ("u2", "b", 2) not in train  # the duplicate of a target is not training data
    for cases in (split.valid, split.test):
        assert not case_identities(data, cases) & train
    assert "exact duplicate" in " ".join(split.train.dropped.lines())


def test_dataset_without_clock_splits_by_order_but_refuses_a_time_cut():
    rows = [("u1", it, k) for k, it in enumerate("abcde")] + [("u2", it, k) for k, it in
                                                              enumerate("bcd")]
    data = make_dataset(rows, has_time=False)
    split = LeaveOneOutSplit().split(data)
    assert data.item_ids[split.test.targets].tolist() == ["e", "d"]
    with pytest.raises(ValueError, match="timestamps"):
        TemporalSplit().split(data)


def test_temporal_split_cuts_globally_and_keeps_new_users_and_items_as_cases():
    rows = [(f"u{u}", it, t) for u in range(4) for t, it in zip(range(1, 9), "abcdefgh",
                                                               strict=True)]
    rows += [("new", "x", 7), ("new", "y", 8)]  # a user and items seen only after the cut
    data = make_dataset(rows)
    splitter = TemporalSplit(valid_fraction=0.25, test_fraction=0.25)
    t1, t2 = splitter.cut_times(data)
    split = splitter.split(data)
    assert (split.train.interactions.events["timestamp"] < t1).all()
    assert ((split.valid.target_times >= t1) & (split.valid.target_times < t2)).all()
    assert (split.test.target_times >= t2).all()
    assert len(np.unique(split.test.users)) == len(split.test)  # one case per user
    new = data.user_ids.get_loc("new")
    assert new in split.test.users.tolist()
    j = split.test.users.tolist().index(new)
    assert data.item_ids[split.test.targets[j]] == "y" and split.test.target_is_cold[j]
    assert data.item_ids[split.test.histories[j]].tolist() == ["x"]
    assert len(split.train.sequences()[new]) == 0  # no train events, index kept
    # Each user's case is their FIRST event in the period.
    enc = data.encoded()
    for j, u in enumerate(split.valid.users):
        user_times = enc.loc[enc["user"] == u, "timestamp"]
        assert split.valid.target_times[j] == user_times[user_times >= t1].min()


def test_cold_items_never_in_train_but_allowed_in_histories(shop):
    split = ColdStartItemSplit(cold_fraction=0.2, seed=3).split(shop)
    train_items = set(split.train.encoded()["item"])
    cold = set(split.cold_items.tolist())
    seen = shop.interactions.events["item_id"].nunique()
    assert len(cold) == round(0.2 * seen) and not cold & train_items
    cases = split.test
    is_cold_target = np.isin(cases.targets, split.cold_items)
    assert is_cold_target.any() and cases.target_is_cold[is_cold_target].all()
    assert any(np.isin(h, split.cold_items).any() for h in cases.histories)
    other = ColdStartItemSplit(cold_fraction=0.2, seed=4).split(shop)
    assert not np.array_equal(other.cold_items, split.cold_items)
    assert split.summary()["cold_items"] == len(cold)


@pytest.mark.parametrize("make", [
    lambda: LeaveOneOutSplit(min_history=0),
    lambda: LeaveOneOutSplit(target_events=("buy",)),
    lambda: TemporalSplit(valid_fraction=0.6, test_fraction=0.5),
    lambda: TemporalSplit(test_fraction=0.0),
    lambda: ColdStartItemSplit(cold_fraction=1.0),
])
def test_bad_split_settings_are_rejected_with_the_field_name(make):
    with pytest.raises(ValueError, match=r"min_history|target_events|fraction"):
        make()


def test_eval_cases_must_align():
    with pytest.raises(ValueError, match="align"):
        EvalCases(np.zeros(2, np.int64), np.zeros(1, np.int64), [], [], np.zeros(2, bool))


@pytest.mark.shared_data
def test_amazon_beauty_leave_one_out_matches_the_published_protocol():
    path = SHARED / "amazon-beauty" / "sequences.txt"
    if not path.exists():
        pytest.skip("../shared/data/amazon-beauty is absent")
    rows = [(u, it, k) for line in path.read_text().splitlines()
            for u, *items in [line.split()] for k, it in enumerate(items)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": pd.unique(frame["item_id"]),
                                               "title": ""}))
    data = Dataset("beauty", catalog, Interactions.from_frame(frame), has_time=False)
    split: Split = LeaveOneOutSplit().split(data)
    assert split.summary()["valid_cases"] == split.summary()["test_cases"] == 22_363
    assert len(split.train.interactions) == 198_502 - 2 * 22_363
    # Last item is test, second-to-last is validation, for the first user of the file.
    first_user, *first_items = path.read_text().splitlines()[0].split()
    j = int(np.flatnonzero(split.test.users == data.user_ids.get_loc(first_user))[0])
    assert data.item_ids[split.test.targets[j]] == first_items[-1]
    assert data.item_ids[split.valid.targets[j]] == first_items[-2]
    assert data.item_ids[split.test.histories[j]].tolist() == first_items[:-1]
    assert EVENT_TYPES[split.test.history_events[j][0]] == "purchase"
