"""HTTP routes through FastAPI's TestClient: each route, and every kind of bad input as a 4xx."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from shelflm.serving.config import ApiConfig
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http import hot_path
from shelflm.serving.http.app import create_app
from shelflm.serving.http.hot_path import parse_query

KEY = {"X-API-Key": "s3cret"}


@pytest.fixture
def client(engine: Engine) -> TestClient:
    config = ApiConfig(api_keys=["other", "s3cret"], max_events=5, max_items=3, max_k=50,
                       cors_origins=["https://shop.example"])
    return TestClient(create_app(engine, config))


def _events(*items: str, user: str = "u") -> dict:
    return {"events": [{"user_id": user, "item_id": i, "event": "view"} for i in items]}


def test_event_then_recommendation_round_trip(client: TestClient) -> None:
    before = client.get("/users/u/recommendations", params={"k": 3}).json()
    assert before["source"] == "popular" and len(before["items"]) == 3
    r = client.post("/events", json=_events("i15"), headers=KEY)
    assert r.status_code == 200 and r.json() == {"stored": 1}
    after = client.get("/users/u/recommendations", params={"k": 3, "exclude": "i15,i16"}).json()
    assert after["source"] == "personal"
    ids = [it["item_id"] for it in after["items"]]
    assert after["items"][0]["category"] == "Beauty > Hair" and not {"i15", "i16"} & set(ids)
    assert after["items"][0]["because"]["text"] == "because you viewed argan oil shampoo"
    cat = client.get("/users/u/recommendations",
                     params={"k": 3, "category": "Beauty > Skin", "max_price": 100}).json()
    assert all(it["category"] == "Beauty > Skin > Face" for it in cat["items"])


def test_session_similar_search_items_and_model_routes(client: TestClient) -> None:
    s = client.post("/sessions/recommendations",
                    json={"events": [{"item_id": "i0", "event": "click"}], "k": 2})
    assert s.status_code == 200 and s.json()["source"] == "session"
    assert client.get("/items/i6/similar", params={"k": 2}).json()["source"] == "similar"
    put = client.put("/items", headers=KEY, json={"items": [
        {"item_id": "n1", "title": "glitter mascara waterproof", "category": "Beauty > Makeup",
         "price": 12.5, "attributes": {"colour": "black"}}]})
    assert put.status_code == 200 and put.json() == {"upserted": ["n1"]}
    assert client.get("/items/i8/similar", params={"k": 1}).json()["items"][0]["item_id"] == "n1"
    found = client.post("/search", json={"query": "glitter mascara", "k": 1}).json()
    assert found["items"][0]["item_id"] == "n1"
    assert client.delete("/items/n1", headers=KEY).status_code == 200
    assert client.get("/items/n1/similar").status_code == 404
    model = client.get("/model").json()
    assert model["items"] == 20 and model["version"].startswith("hashing-")


def test_health_metrics_docs_and_cors(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json()["status"] == "ready"
    client.post("/events", json=_events("i1", "i2"), headers=KEY)
    client.get("/users/u/recommendations")
    text = client.get("/metrics").text
    assert 'shelflm_requests_total{method="GET",route="/users/{user_id}/recommendations",' \
           'status="200"} 1.0' in text
    assert "shelflm_events_ingested_total 2.0" in text
    assert "shelflm_index_size 20.0" in text and 'shelflm_model_info{version="hashing-' in text
    assert 'shelflm_request_seconds_bucket{le="0.015",method="POST",route="/events"}' in text
    assert client.get("/docs").status_code == 200
    route = client.get("/openapi.json").json()["paths"]["/users/{user_id}/recommendations"]
    assert {"user_id", "k", "category", "exclude"} <= {p["name"] for p in route["get"][
        "parameters"]}
    pre = client.options("/events", headers={"Origin": "https://shop.example",
                                             "Access-Control-Request-Method": "POST"})
    assert pre.headers["access-control-allow-origin"] == "https://shop.example"


@pytest.mark.parametrize("headers, status", [({}, 401), ({"X-API-Key": "wrong"}, 403)])
def test_writes_need_the_api_key(client: TestClient, headers: dict, status: int) -> None:
    for method, url, body in [("POST", "/events", _events("i1")),
                              ("PUT", "/items", {"items": [{"item_id": "x", "title": "t"}]}),
                              ("DELETE", "/items/i1", None),
                              ("POST", "/admin/reload", {"artifact_dir": "/tmp"})]:
        r = client.request(method, url, json=body, headers=headers)
        assert r.status_code == status, (url, r.text)
        assert "X-API-Key" in r.json()["error"]
    assert client.get("/users/u/recommendations").status_code == 200  # reads stay open


def test_reads_can_require_the_key(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"], keys_for_reads=True)))
    assert c.get("/users/u/recommendations").status_code == 401
    assert c.get("/users/u/recommendations", headers=KEY).status_code == 200
    assert c.get("/health/live").status_code == 200  # probes never need a key


@pytest.mark.parametrize("method, url, body, status, field", [
    ("GET", "/users/u/recommendations?k=51", None, 422, "k"),
    ("GET", "/users/u/recommendations?k=0", None, 422, "k"),
    ("GET", "/users/u/recommendations?k=ten", None, 422, "k"),
    ("GET", "/users/u/recommendations?min_price=-1", None, 422, "min_price"),
    ("GET", "/users/u/recommendations?min_price=9&max_price=2", None, 422, "min_price"),
    ("GET", "/users/u/recommendations?max_price=nan", None, 422, "max_price"),
    ("GET", "/users/u/recommendations?in_stock_only=maybe", None, 422, "in_stock_only"),
    ("GET", "/users/u/recommendations?category=", None, 422, "category"),
    ("GET", "/users/" + "u" * 129 + "/recommendations", None, 422, "user_id"),
    ("GET", "/items/nope/similar", None, 404, "item_id"),
    ("DELETE", "/items/nope", None, 404, "item_id"),
    ("POST", "/events", {"events": []}, 422, "events"),
    ("POST", "/events", _events(*["i1"] * 6), 413, "events"),
    ("POST", "/events", _events("i1", "nope"), 422, "events[1].item_id"),
    ("POST", "/events", {"events": [{"user_id": "u", "item_id": 7}]}, 422, "events[0].item_id"),
    ("POST", "/events", {"events": [{"user_id": "u", "item_id": "i1", "event": "like"}]}, 422,
     "events[0].event"),
    ("POST", "/events", {"events": [{"user_id": "", "item_id": "i1"}]}, 422,
     "events[0].user_id"),
    ("POST", "/events", {"events": [{"user_id": "u", "item_id": "i1", "extra": 1}]}, 422,
     "events[0].extra"),
    ("POST", "/events", [1, 2], 400, "body"),
    ("POST", "/sessions/recommendations", {"events": [{"item_id": "nope"}]}, 422,
     "events[0].item_id"),
    ("POST", "/sessions/recommendations", {"events": [{"item_id": "i1"}], "k": 10_000}, 422, "k"),
    ("POST", "/search", {"query": ""}, 422, "query"),
    ("POST", "/search", {"query": "x" * 513}, 422, "query"),
    ("POST", "/search", {"k": 3}, 422, "query"),
    ("PUT", "/items", {"items": [{"item_id": "a", "title": "t"}] * 4}, 413, "items"),
    ("PUT", "/items", {"items": [{"item_id": "a", "title": "t"}, {"item_id": "a", "title": "u"}]},
     422, "item_id"),
    ("PUT", "/items", {"items": [{"item_id": "a", "title": "t", "price": -3}]}, 422,
     "items[0].price"),
    ("POST", "/admin/reload", {"artifact_dir": "/definitely/not/here"}, 422, "artifact_dir"),
])
def test_bad_input_gets_a_4xx_naming_the_field(client: TestClient, method: str, url: str,
                                               body: object, status: int, field: str) -> None:
    r = client.request(method, url, json=body, headers=KEY)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert field.split(".")[-1].split("[")[0] in r.json()["error"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    r = client.post("/events", content=b'{"events": [', headers={
        **KEY, "content-type": "application/json"})
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]


def test_reload_route_swaps_the_artifact(engine: Engine, make_artifact, tmp_path: Path) -> None:
    engine.config = replace(engine.config, model_loader="hashing_model:load_hashing_artifact",
                            models_dir=tmp_path)  # no start artifact: reloads need a folder
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"])))
    old = c.get("/model").json()["version"]
    r = c.post("/admin/reload", json={"artifact_dir": str(make_artifact("b", seed=3))},
               headers=KEY)
    assert r.status_code == 200 and r.json()["model_version"] != old
    assert c.get("/model").json()["version"] == r.json()["model_version"]
    (tmp_path / "broken").mkdir()
    bad = c.post("/admin/reload", json={"artifact_dir": str(tmp_path / "broken")}, headers=KEY)
    assert bad.status_code == 422 and "no config.json" in bad.json()["error"]
    assert c.get("/model").json()["version"] == r.json()["model_version"]  # still serving
    assert c.get("/model").json()["reload_generation"] == r.json()["reload_generation"] == 1
    assert "shelflm_reload_generation 1.0" in c.get("/metrics").text


def test_repeated_exclude_parameters_all_count(client: TestClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.post("/events", json=_events("i15"), headers=KEY).status_code == 200
    top = [it["item_id"] for it in
           client.get("/users/u/recommendations", params={"k": 4}).json()["items"]]
    gone = top[:3]
    params = [("k", "4"), ("exclude", gone[0]), ("exclude", f"{gone[1]},{gone[2]}")]
    assert parse_query(urlencode(params).encode()).exclude == gone

    passed = []

    def fall_through(query_string: bytes, *model: object) -> None:
        passed.append(query_string)
        raise RequestError("k", "let the declared route answer")

    for hot in (True, False):  # the hot path, then the declared FastAPI route behind it
        if not hot:
            monkeypatch.setattr(hot_path, "parse_query", fall_through)
        r = client.get("/users/u/recommendations", params=params)
        assert r.status_code == 200 and r.json()["source"] == "personal"
        ids = [it["item_id"] for it in r.json()["items"]]
        assert len(ids) == 4 and not set(gone) & set(ids)
    assert len(passed) == 1  # the second request did go past the hot path
