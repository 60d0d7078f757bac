"""The per-user cache: the user tower runs once per (user, history); an event, a catalog
change or a reload drops the entry, so the very next answer reflects it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashing_model import HashingModel
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine, Filters
from shelflm.serving.http.responses import RenderedAnswers
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore
from shelflm.serving.user_cache import UserCache, UserState


class CountingModel(HashingModel):
    """The hashing model, counting user-tower calls."""

    calls = 0

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        self.calls += 1
        return super().user_vector(history, events)


def _engine(model: HashingModel, size: int = 100, refresh: int = 0) -> Engine:
    """An engine that (by default) computes users lazily, on their next request."""
    return Engine(model, MemoryEventStore(), ServingConfig(user_cache_size=size,
                                                           refresh_on_ingest=refresh))


def test_user_tower_runs_once_per_history_and_an_event_invalidates(model) -> None:
    counting = CountingModel(model.catalog, dim=256)
    engine = _engine(counting)
    engine.ingest([Event("u", "i0", "view", 1)])  # lipstick
    first = [engine.recommend("u", 3) for _ in range(5)]
    assert counting.calls == 1 and len({tuple(r.item_id for r in a.items) for a in first}) == 1
    engine.ingest([Event("u", "i15", "purchase", 2), Event("u", "i17", "add_to_cart", 3)])
    after = engine.recommend("u", 3)
    assert counting.calls == 2  # recomputed for the new history ...
    assert "Hair" in after.items[0].category  # ... and the answer follows the new events
    assert all(r.item_id != "i15" for r in after.items)  # the purchase is excluded at once
    assert engine.info()["user_cache"]["hits"] == 4


def test_other_users_stay_cached_and_catalog_changes_invalidate(model) -> None:
    counting = CountingModel(model.catalog, dim=256)
    engine = _engine(counting)
    engine.ingest([Event("u", "i0", "view", 1), Event("v", "i10", "view", 1)])
    engine.recommend("u", 3), engine.recommend("v", 3)
    engine.ingest([Event("v", "i11", "view", 2)])
    engine.recommend("u", 3)
    assert counting.calls == 2  # u's entry survived v's event
    engine.recommend("v", 3)
    assert counting.calls == 3  # v's did not
    engine.upsert_items(pd.DataFrame([{"item_id": "n1", "title": "red matte lipstick",
                                       "category": "Beauty > Makeup > Lips"}]))
    assert "n1" in {r.item_id for r in engine.recommend("u", 5).items}  # answer is fresh
    assert counting.calls == 3  # a new item changes no history vector: u's is still valid
    engine.upsert_items(pd.DataFrame([{"item_id": "i0", "title": "argan oil shampoo",
                                       "category": "Beauty > Hair"}]))
    assert "Hair" in engine.recommend("u", 1).items[0].category  # i0 is a shampoo now
    assert counting.calls == 4  # an item in u's history changed: recomputed
    engine.recommend("v", 3)
    assert counting.calls == 4  # v's history does not hold i0: still cached
    engine.delete_items(["i11"])
    engine.recommend("u", 3)
    assert counting.calls == 4  # nor does u's hold i11
    engine.recommend("v", 3)
    assert counting.calls == 5  # v's did
    engine.delete_items(["i0"])  # u's only history item is gone: popular fallback
    assert engine.recommend("u", 3).source == "popular"


def test_sessions_bypass_the_cache_and_the_lru_is_bounded(model) -> None:
    counting = CountingModel(model.catalog, dim=256)
    engine = _engine(counting, size=2)
    for _ in range(3):
        engine.recommend_session([("i0", "view")], 3)
    assert counting.calls == 3 and engine.info()["user_cache"]["size"] == 0
    engine.ingest([Event(u, "i0", "view", 1) for u in "abc"])
    for u in "abc":
        engine.recommend(u, 3)
    assert engine.info()["user_cache"]["size"] == 2
    engine.recommend("a", 3)  # evicted as least recently used: computed again
    assert counting.calls == 3 + 4


def test_cache_off_and_generation_mismatch() -> None:
    cache = UserCache(0)
    state = UserState(np.empty(0, np.int64), np.empty(0, np.int64), generation=1)
    cache.put("u", state)
    assert cache.get("u", 1) is None
    cache = UserCache(5)
    cache.put("u", state)
    assert cache.get("u", 2) is None and cache.get("u", 1) is state


def test_personal_answers_are_reused_only_for_the_same_request(model) -> None:
    engine = _engine(model)
    encoded: list = []

    def encode(answer) -> bytes:
        encoded.append(answer)
        return repr([r.item_id for r in answer.items]).encode()

    answers = RenderedAnswers(engine, 200, render=encode)

    def ask(user: str, k: int, filters: Filters | None = None) -> bytes:
        return answers.recommend(user, k, filters or Filters())

    engine.ingest([Event("u", "i0", "view", 1)])
    first = ask("u", 3)
    assert ask("u", 3) is first and len(encoded) == 1  # nothing changed: the same bytes
    assert ask("u", 4) != first and len(encoded) == 2
    lips = Filters(category="Beauty > Makeup > Lips", exclude=("i1",))
    ask("u", 3, lips)
    assert all("Lips" in r.category and r.item_id != "i1" for r in encoded[-1].items)
    top = encoded[0].items[0].item_id
    engine.ingest([Event("u", top, "purchase", 2)])
    ask("u", 3)
    assert len(encoded) == 4 and top not in {r.item_id for r in encoded[-1].items}
    ask("nobody", 3), ask("nobody", 3)
    assert len(encoded) == 6  # popular answers are made fresh every time


def test_kept_answers_are_bounded_in_bytes_too(model) -> None:
    engine = _engine(model)
    answers = RenderedAnswers(engine, 200, max_bytes=100, render=lambda a: b"x" * 40)
    for user in ("a", "b", "c", "d"):
        engine.ingest([Event(user, "i0", "view", 1)])
        answers.recommend(user, 3, Filters())
    assert answers.bytes == 80 and len(answers._entries) == 2  # the oldest two went
    answers.recommend("d", 3, Filters())  # kept, nothing counted twice
    assert answers.bytes == 80
    with pytest.raises(ValueError, match="response_cache_mb"):
        ServingConfig(response_cache_mb=-1)


def test_warm_up_caches_the_most_recent_users(model) -> None:
    counting = CountingModel(model.catalog, dim=256)
    engine = Engine(counting, MemoryEventStore(), ServingConfig(
        user_cache_size=10, warm_users=2, refresh_on_ingest=0))
    engine.ingest([Event("old", "i0", "view", 1), Event("a", "i1", "view", 2),
                   Event("b", "i10", "view", 3)])
    assert engine.warm_up() == 2 and counting.calls == 2
    engine.recommend("a", 3), engine.recommend("b", 3)
    assert counting.calls == 2  # served from the warmed cache
    engine.recommend("old", 3)
    assert counting.calls == 3


def test_ingest_computes_the_new_state_so_the_next_request_is_a_fresh_hit(model) -> None:
    counting = CountingModel(model.catalog, dim=256)
    engine = _engine(counting, refresh=2)
    engine.ingest([Event("u", "i0", "view", 1)])
    assert counting.calls == 1  # computed by the POST, not by the next request
    assert "Lips" in engine.recommend("u", 3).items[0].category
    engine.ingest([Event("u", "i15", "purchase", 2), Event("u", "i17", "add_to_cart", 3)])
    assert counting.calls == 2
    after = engine.recommend("u", 3)
    assert counting.calls == 2 and engine.info()["user_cache"]["hits"] == 2
    assert "Hair" in after.items[0].category and "i15" not in {r.item_id for r in after.items}
    engine.ingest([Event(u, "i0", "view", 4) for u in "abc"])  # past refresh_on_ingest ...
    assert counting.calls == 4
    engine.recommend("c", 3)  # ... the rest are computed on their next request
    assert counting.calls == 5


def test_default_config_warms_and_refreshes() -> None:
    config = ServingConfig()
    assert config.warm_users >= config.user_cache_size > 0 and config.refresh_on_ingest > 0
