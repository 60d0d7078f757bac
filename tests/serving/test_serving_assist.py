"""The shopping assistant (POST /assist): a turn answers with products and reasons, a
follow-up narrows or shifts the answer, the shopper's items personalise it, and bad input
gets a clear error or an empty answer that says why."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from hashing_model import HashingModel
from shelflm.data.schema import Catalog
from shelflm.serving.assist import AssistQuery
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.app import create_app
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore

SHOP = [("t1", "hiking boots waterproof", "Trailco", "Outdoor > Shoes", 80.0),
        ("t2", "hiking boots lightweight", "Peakwear", "Outdoor > Shoes", 60.0),
        ("t3", "hiking boots budget", "Trailco", "Outdoor > Shoes", 30.0),
        ("t4", "hiking socks wool", "Peakwear", "Outdoor > Clothing", 12.0),
        ("t5", "camping tent two person", "Trailco", "Outdoor > Camping", 150.0),
        ("t6", "camping lantern led", "Glow", "Outdoor > Camping", 25.0),
        ("c1", "espresso coffee beans", "Roastery", "Food > Coffee", 14.0),
        ("c2", "coffee grinder manual", "Roastery", "Food > Coffee", 35.0),
        ("c3", "coffee mug ceramic", "Homely", "Kitchen > Mugs", 9.0)]


@pytest.fixture
def engine() -> Engine:
    catalog = Catalog.from_frame(pd.DataFrame(SHOP, columns=["item_id", "title", "brand",
                                                             "category", "price"]))
    config = ServingConfig()
    config.store.backend = "memory"
    return Engine(HashingModel(catalog, dim=256), MemoryEventStore(), config)


def ids(answer) -> list[str]:
    return [i.item_id for i in answer.items]


def test_a_turn_answers_with_matching_products_and_their_reasons(engine: Engine) -> None:
    answer = engine.assistant.turn(AssistQuery("hiking boots under 70", k=3))
    assert answer.turn == 1 and answer.conversation_id
    assert set(ids(answer)) == {"t2", "t3"} | set(ids(answer)[2:])  # t1 costs 80
    assert "t1" not in ids(answer) and answer.understood["max_price"] == 70
    top = answer.items[0]
    assert "matches 'hiking', 'boots'" in top.reasons and top.price <= 70


def test_follow_ups_narrow_then_shift(engine: Engine) -> None:
    first = engine.assistant.turn(AssistQuery("hiking boots", k=3))
    assert set(ids(first)) == {"t1", "t2", "t3"}
    cid = first.conversation_id
    cheaper = engine.assistant.turn(AssistQuery("cheaper", conversation_id=cid, k=3))
    assert cheaper.turn == 2 and cheaper.understood["max_price"] < 60
    assert ids(cheaper)[0] == "t3" and all(i.price < 60 for i in cheaper.items)
    other = engine.assistant.turn(AssistQuery("not that brand", conversation_id=cid, k=3))
    assert other.understood["exclude_brands"] == ["trailco"]
    assert all(i.brand != "Trailco" for i in other.items)
    coffee = engine.assistant.turn(AssistQuery("coffee instead", conversation_id=cid, k=3))
    assert coffee.understood["wishes"] == ["hiking boots", "coffee"]
    assert coffee.understood["max_price"] is None  # "cheaper than those boots" is gone
    assert set(ids(coffee)) <= {"c1", "c2", "c3"} and len(coffee.items) == 3


def test_the_shoppers_items_personalise_and_are_named(engine: Engine) -> None:
    engine.ingest([Event("u1", "c1", "view", 1), Event("u1", "t1", "view", 2)])
    plain = engine.assistant.turn(AssistQuery("lantern or mug", k=2))
    personal = engine.assistant.turn(AssistQuery("lantern or mug", user_id="u1", k=2))
    assert personal.understood["personalised"] and not plain.understood["personalised"]
    assert [i.score for i in personal.items] != [i.score for i in plain.items]
    boots = engine.assistant.turn(AssistQuery("boots", user_id="u1", k=3))
    assert any("like hiking boots waterproof" in r for i in boots.items for r in i.reasons)
    fresh = engine.assistant.turn(AssistQuery("boots", user_id="nobody", k=2))
    assert "has no events yet" in fresh.note and fresh.items


def test_what_goes_with_an_item_leaves_it_out_and_says_so(engine: Engine) -> None:
    answer = engine.assistant.turn(AssistQuery("what goes with this?", item_id="t5", k=3))
    assert "t5" not in ids(answer) and len(answer.items) == 3
    assert all(r.reasons[0] == "goes with camping tent two person" for r in answer.items)


def test_constraints_that_exclude_everything_give_an_empty_answer_that_says_why(
        engine: Engine) -> None:
    answer = engine.assistant.turn(AssistQuery("tent under 5", categories=("Food",)))
    assert answer.items == [] and "price <= 5" in answer.note and "Food" in answer.note


@pytest.mark.parametrize("query, field, kind", [
    (AssistQuery("   "), "message", "invalid"),
    (AssistQuery("x" * 3000), "message", "too_large"),
    (AssistQuery("boots", conversation_id="gone"), "conversation_id", "not_found"),
    (AssistQuery("cheaper"), "message", "invalid"),
    (AssistQuery("boots", item_id="zz"), "item_id", "not_found"),
    (AssistQuery("boots", events=(("t1", "view"), ("zz", "view"))), "events[1].item_id",
     "invalid"),
])
def test_bad_turns_name_what_is_wrong(engine: Engine, query, field, kind) -> None:
    with pytest.raises(RequestError) as err:
        engine.assistant.turn(query)
    assert (err.value.field, err.value.kind) == (field, kind)


def test_over_http_a_conversation_goes_on_and_bad_input_is_never_a_5xx(
        engine: Engine) -> None:
    client = TestClient(create_app(engine))
    first = client.post("/assist", json={"message": "hiking boots", "k": 2}).json()
    body = {"message": "cheaper", "conversation_id": first["conversation_id"]}
    second = client.post("/assist", json=body).json()
    assert second["turn"] == 2 and second["items"][0]["reasons"]
    assert client.post("/assist", json={"message": ""}).status_code == 422
    assert client.post("/assist", json={"message": "x" * 100_001}).status_code == 422
    assert client.post("/assist", json={"message": "x" * 5000}).status_code == 413
    gone = client.post("/assist", json={"message": "hi", "conversation_id": "nope"})
    assert gone.status_code == 404 and "expired" in gone.json()["error"]
    assert client.post("/assist", json={"message": "hi", "k": 10_000}).status_code == 422
    events = {"message": "boots", "events": [{"item_id": "zz", "event": "view"}]}
    assert client.post("/assist", json=events).status_code == 422


def test_refinements_past_the_kept_turns_keep_the_wish(engine: Engine) -> None:
    engine.assistant.conversations.max_turns = 2
    cid = engine.assistant.turn(AssistQuery("hiking boots", k=2)).conversation_id
    for message in ("not that brand", "more expensive", "not that brand"):
        answer = engine.assistant.turn(AssistQuery(message, conversation_id=cid, k=2))
    assert answer.understood["wishes"] == ["hiking boots"] and answer.turn == 4


def test_a_product_added_now_is_found_by_its_exact_model_number(engine: Engine) -> None:
    engine.assistant.turn(AssistQuery("boots"))  # BM25 built for the catalog before
    new = pd.DataFrame([{"item_id": "n1", "title": "headlamp HL-9000", "brand": "Glow",
                         "category": "Outdoor > Camping", "price": 40.0}])
    engine.upsert_items(new)
    answer = engine.assistant.turn(AssistQuery("hl9000", k=1))
    assert ids(answer) == ["n1"] and "matches 'hl9000'" in answer.items[0].reasons


def test_a_stated_budget_comes_back_after_a_cheaper_turn_and_a_new_wish(engine: Engine) -> None:
    cid = engine.assistant.turn(AssistQuery("hiking boots under 70", k=3)).conversation_id
    cheaper = engine.assistant.turn(AssistQuery("cheaper", conversation_id=cid))
    assert cheaper.understood["max_price"] < 45
    socks = engine.assistant.turn(AssistQuery("wool socks instead", conversation_id=cid))
    assert socks.understood["max_price"] == 70 and socks.understood["relative"] == []
