"""Rules a shop expects by default: what a shopper just looked at is not offered back first
(rules.recently_seen_demoted), and an item is never explained by itself."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from hashing_model import HashingModel
from shelflm.serving.config import ApiConfig, RulesConfig, ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore

HAIR = "Beauty > Hair"  # i15..i19; i15 is the argan oil shampoo


def _engine(model: HashingModel, **rules) -> Engine:
    return Engine(model, MemoryEventStore(), ServingConfig(rules=RulesConfig(**rules)))


def _ids(answer) -> list[str]:
    return [r.item_id for r in answer.items]


def test_a_just_viewed_item_is_not_recommended_back_first(model: HashingModel) -> None:
    engine = _engine(model)
    engine.ingest([Event("u", "i15", "view", 1)])
    top = engine.recommend("u", 3)
    assert top.source == "personal" and "i15" not in _ids(top)
    assert all(r.category == HAIR for r in top.items)  # still what the view says they like
    assert all(r.because["item_id"] == "i15" for r in top.items)
    session = engine.recommend_session([("i15", "view")], 3)
    assert "i15" not in _ids(session) and session.items[0].category == HAIR


def test_demoted_items_still_fill_an_answer_last_and_explain_nothing_by_themselves(
        model: HashingModel) -> None:
    engine = _engine(model, diversity_cap=0)
    engine.ingest([Event("u", "i15", "view", 1)])
    every = engine.recommend("u", 20)
    assert len(every.items) == 19 and _ids(every)[-1] == "i15"  # i5 is out of stock
    assert every.items[-1].because is None  # its only recent event is itself
    assert all(r.because["item_id"] == "i15" for r in every.items[:-1])


def test_only_the_last_n_events_are_demoted(model: HashingModel) -> None:
    engine = _engine(model, diversity_cap=0, recently_seen_demoted=1)
    engine.ingest([Event("u", "i15", "view", 1), Event("u", "i16", "view", 2)])
    ids = _ids(engine.recommend("u", 20))
    assert ids[-1] == "i16" and ids.index("i15") < 4  # the older view ranks as usual
    session = _ids(engine.recommend_session([("i15", "view"), ("i16", "view")], 20))
    assert session[-1] == "i16"


def test_switched_off_the_viewed_item_comes_back_first_but_never_explains_itself(
        model: HashingModel) -> None:
    engine = _engine(model, recently_seen_demoted=0)
    engine.ingest([Event("u", "i15", "view", 1)])
    first = engine.recommend("u", 3).items[0]
    assert first.item_id == "i15" and first.because is None  # the old order, no self-reason
    engine.ingest([Event("u", "i16", "view", 2)])
    answer = engine.recommend("u", 20)
    reasons = {r.item_id: r.because["item_id"] for r in answer.items}
    assert reasons["i15"] == "i16" and reasons["i16"] == "i15"  # the other recent item
    assert all(item != reason for item, reason in reasons.items())


def test_the_http_answer_follows_the_rules(model: HashingModel) -> None:
    engine = _engine(model)
    client = TestClient(create_app(engine, ApiConfig(api_keys=["k"])))
    stored = client.post("/events", headers={"X-API-Key": "k"}, json={"events": [
        {"user_id": "u", "item_id": "i15", "event": "view"}]})
    assert stored.status_code == 200, stored.text
    items = client.get("/users/u/recommendations", params={"k": 3}).json()["items"]
    assert items[0]["item_id"] != "i15" and items[0]["because"]["item_id"] == "i15"
    engine.config = replace(engine.config, rules=RulesConfig(recently_seen_demoted=0))
    session = client.post("/sessions/recommendations",
                          json={"events": [{"item_id": "i15", "event": "view"}], "k": 1})
    first = session.json()["items"][0]
    assert first["item_id"] == "i15" and first["because"] is None


def test_the_default_demotes_the_last_ten_events() -> None:
    assert RulesConfig().recently_seen_demoted == 10
