"""Hardened defaults: with no API key, writes and admin routes are closed unless open_writes
says otherwise; text that shows nothing (a blank query, a blank title) is a 422 naming the
field, never a 500, and a refused item batch changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shelflm.serving.config import ApiConfig
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.app import create_app

KEY = {"X-API-Key": "s3cret"}
WRITES = [("POST", "/events", {"events": [{"user_id": "u", "item_id": "i1"}]}),
          ("PUT", "/items", {"items": [{"item_id": "n1", "title": "glitter mascara"}]}),
          ("DELETE", "/items/i2", None),
          ("POST", "/admin/reload", {"artifact_dir": "/tmp"})]
READS = [("GET", "/users/u/recommendations", None), ("GET", "/items/i1/similar", None),
         ("POST", "/search", {"query": "lipstick"}), ("GET", "/model", None),
         ("POST", "/sessions/recommendations", {"events": [{"item_id": "i0"}]})]
BLANK = ["   ", "<b></b>", "\t\n", "&nbsp;", "\u001e", "\x00", "&lt;br&gt;", "\u200b"]


def test_writes_are_closed_by_default() -> None:
    assert ApiConfig().open_writes is False and ApiConfig().api_keys == []


def test_without_a_key_writes_and_admin_answer_403_and_reads_stay_open(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig()))
    for method, url, body in WRITES:
        r = c.request(method, url, json=body)
        assert r.status_code == 403, (url, r.text)
        error = r.json()["error"]
        assert "no API key" in error and "--api-key" in error and "SHELFLM_API_KEY" in error
        assert "--open" in error and "loopback" in error
    assert engine.store.recent("u") == [] and engine.similar("i2").items  # nothing written
    assert engine.info()["items"] == 20
    for method, url, body in READS:
        assert c.request(method, url, json=body).status_code == 200, url


def test_keys_for_reads_without_keys_leaves_reads_open(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(keys_for_reads=True)))
    for method, url, body in READS:
        assert c.request(method, url, json=body).status_code == 200, url


def test_open_writes_serves_writes_without_a_key(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(open_writes=True)))
    for method, url, body in WRITES[:3]:
        assert c.request(method, url, json=body).status_code == 200, url
    assert [e.item_id for e in engine.store.recent("u")] == ["i1"]
    r = c.post("/admin/reload", json={"artifact_dir": "/definitely/not/here"})
    assert r.status_code == 422  # past the key check, refused for its input


def test_a_configured_key_is_needed_even_with_open_writes(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"], open_writes=True)))
    for method, url, body in WRITES:
        assert c.request(method, url, json=body).status_code == 401, url
    assert c.request(*WRITES[0][:2], json=WRITES[0][2], headers=KEY).status_code == 200


@pytest.mark.parametrize("query", BLANK)
@pytest.mark.parametrize("user_id", [None, "u"])
def test_a_query_that_shows_nothing_is_a_422_on_query(engine: Engine, query: str,
                                                      user_id: str | None) -> None:
    c = TestClient(create_app(engine, ApiConfig()))
    body = {"query": query} if user_id is None else {"query": query, "user_id": user_id}
    r = c.post("/search", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "query" and "empty after removing markup" in r.json()["error"]


def test_the_engine_refuses_a_blank_query_itself(engine: Engine) -> None:
    with pytest.raises(RequestError) as caught:
        engine.search("<p> &nbsp; </p>", 3)
    assert caught.value.field == "query" and caught.value.kind == "invalid"
    assert engine.search("<b>red</b> lipstick", 3).items  # markup around words is fine


@pytest.mark.parametrize("title", ["   ", "<b></b>", "&nbsp;\t", "\x07"])
def test_a_blank_title_refuses_the_whole_batch(engine: Engine, title: str) -> None:
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"])))
    items = [{"item_id": "n1", "title": "glitter mascara"},
             {"item_id": "n2", "title": title}]
    r = c.put("/items", json={"items": items}, headers=KEY)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "items[1].title"
    assert "'n2'" in r.json()["error"] and "title" in r.json()["error"]
    assert c.get("/items/n1/similar").status_code == 404  # the good row was not applied
    assert engine.info()["items"] == 20 and engine.store.item_changes_since(0) == []
