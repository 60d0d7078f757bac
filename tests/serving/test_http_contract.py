"""The OpenAPI is the contract: every status a route answers is in it with the error body,
every limit is in its schema, and requests are parsed strictly (no coercion of JSON types, only
ASCII digits in a query string)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shelflm.serving.config import ApiConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.http.hot_path import parse_query
from shelflm.serving.http.requests import route_models
from shelflm.serving.http.responses import AnswerBody

KEY = {"X-API-Key": "s3cret"}
CONFIG = ApiConfig(api_keys=["s3cret"], keys_for_reads=True, max_k=37, max_events=5,
                   max_items=3)
# operation -> the statuses it documents besides 200
STATUSES = {
    ("get", "/users/{user_id}/recommendations"): {400, 401, 403, 404, 405, 413, 422},
    ("post", "/sessions/recommendations"): {400, 401, 403, 405, 413, 415, 422},
    ("get", "/items/{item_id}/similar"): {400, 401, 403, 404, 405, 413, 422},
    ("post", "/search"): {400, 401, 403, 405, 413, 415, 422},
    ("post", "/assist"): {400, 401, 403, 404, 405, 413, 415, 422},
    ("get", "/model"): {400, 401, 403, 405, 413, 422},
    ("post", "/events"): {400, 401, 403, 405, 413, 415, 422},
    ("put", "/items"): {400, 401, 403, 405, 413, 415, 422},
    ("delete", "/items/{item_id}"): {400, 401, 403, 404, 405, 413, 422},
    ("post", "/admin/reload"): {400, 401, 403, 404, 405, 413, 415, 422},
    ("get", "/health/live"): {400, 405, 413},
    ("get", "/health/ready"): {400, 405, 413, 503},
    ("get", "/metrics"): {400, 405, 413},
    ("get", "/users/{user_id}/risk"): {400, 401, 403, 404, 405, 413, 422},
    ("get", "/admin/quarantine"): {400, 401, 403, 405, 413, 422},
    ("post", "/admin/users/{user_id}/release"): {400, 401, 403, 404, 405, 413, 422},
    ("get", "/dashboard/api/overview"): {400, 401, 403, 405, 413, 422},
    ("get", "/dashboard/api/items/{item_id}"): {400, 401, 403, 404, 405, 413, 422},
    ("get", "/dashboard/api/users/{user_id}"): {400, 401, 403, 405, 413, 422},
    ("get", "/dashboard/api/model"): {400, 401, 403, 404, 405, 413, 422},
    ("get", "/dashboard/api/versions"): {400, 401, 403, 405, 413, 422},
    ("get", "/dashboard/api/compare"): {400, 401, 403, 404, 405, 413, 422},
    ("post", "/dashboard/api/reload"): {400, 401, 403, 404, 405, 413, 415, 422},
    ("post", "/dashboard/api/rollback"): {400, 401, 403, 404, 405, 409, 413, 422},
}


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine, CONFIG))


@pytest.fixture
def spec(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def _schema(spec: dict, name: str) -> dict:
    return spec["components"]["schemas"][name]


def test_every_status_is_documented_with_the_error_body(spec: dict) -> None:
    operations = {(m, p): op for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert set(operations) == set(STATUSES)
    for key, op in operations.items():
        documented = {int(s) for s in op["responses"]}
        assert documented == STATUSES[key] | {200}, key
        for status in STATUSES[key] - {503}:
            body = op["responses"][str(status)]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}, (key, status)
    ready = operations[("get", "/health/ready")]["responses"]["503"]
    assert ready["content"]["application/json"]["schema"]["$ref"].endswith("/NotReady")
    assert "text/plain" in operations[("get", "/metrics")]["responses"]["200"]["content"]
    assert _schema(spec, "ErrorBody")["required"] == ["error", "field"]
    for key in [("get", "/users/{user_id}/recommendations"), ("post", "/search"),
                ("post", "/sessions/recommendations"), ("get", "/items/{item_id}/similar")]:
        ok = operations[key]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/AnswerBody"}, key


def test_the_api_key_is_a_security_scheme_on_the_routes_that_need_it(spec: dict,
                                                                     engine: Engine) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert [(s["type"], s["in"], s["name"]) for s in schemes.values()] == [
        ("apiKey", "header", "X-API-Key")]
    keyed = {(m, p) for p, ops in spec["paths"].items() for m, op in ops.items()
             if op.get("security")}
    assert keyed == {key for key, statuses in STATUSES.items() if 401 in statuses}
    writes_only = TestClient(create_app(engine, ApiConfig(api_keys=["k"]))).get(
        "/openapi.json").json()
    keyed = {(m, p) for p, ops in writes_only["paths"].items() for m, op in ops.items()
             if op.get("security")}
    assert keyed == {("post", "/events"), ("put", "/items"), ("delete", "/items/{item_id}"),
                     ("post", "/admin/reload"), ("get", "/users/{user_id}/risk"),
                     ("get", "/admin/quarantine"), ("post", "/admin/users/{user_id}/release"),
                     ("post", "/dashboard/api/reload"), ("post", "/dashboard/api/rollback")}


def test_answers_have_the_documented_shape(client: TestClient) -> None:
    events = {"events": [{"user_id": "u", "item_id": "i15", "event": "view"}]}
    assert client.post("/events", json=events, headers=KEY).status_code == 200
    personal = AnswerBody.model_validate(
        client.get("/users/u/recommendations", params={"k": 3}, headers=KEY).json())
    assert personal.source == "personal" and personal.items[0].because is not None
    found = client.post("/search", json={"query": "lipstick", "k": 2}, headers=KEY).json()
    assert AnswerBody.model_validate(found).source == "search"


def test_every_limit_is_in_the_schema(spec: dict) -> None:
    def query(path: str, name: str) -> dict:
        params = spec["paths"][path]["get"]["parameters"]
        return next(p["schema"] for p in params if p["name"] == name)

    for path, id_name in (("/users/{user_id}/recommendations", "user_id"),
                          ("/items/{item_id}/similar", "item_id")):
        assert query(path, "k")["maximum"] == CONFIG.max_k and query(path, "k")["minimum"] == 1
        assert query(path, id_name)["maxLength"] == 128
    for body in ("SessionRequest", "SearchRequest"):
        assert _schema(spec, body)["properties"]["k"]["maximum"] == CONFIG.max_k
    assert _schema(spec, "EventBatch")["properties"]["events"]["maxItems"] == CONFIG.max_events
    assert _schema(spec, "ItemBatch")["properties"]["items"]["maxItems"] == CONFIG.max_items
    assert _schema(spec, "SessionRequest")["properties"]["events"]["maxItems"] == 200
    search = _schema(spec, "SearchRequest")["properties"]
    assert search["query"]["maxLength"] == 512 and search["exclude"]["maxItems"] == 200
    assert search["exclude"]["items"]["maxLength"] == 128
    item = _schema(spec, "ItemIn")["properties"]
    assert item["item_id"]["maxLength"] == 128 and item["title"]["maxLength"] == 1000
    assert item["attributes"]["maxProperties"] == 32
    assert item["price"]["anyOf"][0]["maximum"] == 1e9
    event = _schema(spec, "EventIn")["properties"]
    assert event["user_id"]["maxLength"] == 128
    assert event["timestamp"]["anyOf"][0] == {"type": "integer", "minimum": 0,
                                              "maximum": 2**40}
    assert query("/users/{user_id}/recommendations", "min_price")["anyOf"][0]["maximum"] == 1e9


@pytest.mark.parametrize("body, field", [
    ({"query": "lipstick", "k": True}, "k"),
    ({"query": "lipstick", "k": False}, "k"),
    ({"query": "lipstick", "k": "3"}, "k"),
    ({"query": "lipstick", "k": 2.5}, "k"),
    ({"query": "lipstick", "k": 38}, "k"),
    ({"query": "lipstick", "in_stock_only": 0}, "in_stock_only"),
    ({"query": "lipstick", "in_stock_only": "false"}, "in_stock_only"),
    ({"query": 7}, "query"),
    ({"query": "lipstick", "min_price": "1"}, "min_price"),
])
def test_json_bodies_are_not_coerced(client: TestClient, body: dict, field: str) -> None:
    r = client.post("/search", json=body, headers=KEY)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_a_json_integer_may_be_written_with_a_zero_fraction(client: TestClient) -> None:
    # JSON Schema's "integer" is any number without a fraction.
    r = client.post("/search", json={"query": "lipstick", "k": 2.0}, headers=KEY)
    assert r.status_code == 200 and len(r.json()["items"]) == 2
    bad = client.post("/events", headers=KEY, json={"events": [
        {"user_id": "u", "item_id": "i1", "timestamp": True}]})
    assert bad.status_code == 422 and bad.json()["field"] == "events[0].timestamp"


@pytest.mark.parametrize("k", ["1_0", "\u0661\u0660", "\uff11", " 5", "5 ", "+5", "1.0",
                               "0x10", "true"])
def test_the_query_parser_reads_ascii_digits_only(client: TestClient, k: str) -> None:
    model = route_models(CONFIG).recommend
    with pytest.raises(ValidationError, match="expected an integer in ASCII digits"):
        parse_query(f"k={k}".encode(), model)
    for url in ("/users/u/recommendations", "/items/i1/similar"):
        r = client.get(url, params={"k": k}, headers=KEY)
        assert r.status_code == 422 and r.json()["field"] == "k", (url, k, r.text)
        assert r.json()["error"].startswith("k: expected an integer in ASCII digits")
    assert client.get("/users/u/recommendations", params={"k": "10"},
                      headers=KEY).status_code == 200


def test_query_prices_read_ascii_decimals(client: TestClient) -> None:
    ok = client.get("/users/u/recommendations", headers=KEY,
                    params={"min_price": "5", "max_price": "2.5e1"})
    assert ok.status_code == 200
    assert all(5 <= 5 + int(it["item_id"][1:]) <= 25 for it in ok.json()["items"])
    for price in ("1_0", "\u0661", "inf", "nan", "-1", "1e999"):
        r = client.get("/users/u/recommendations", params={"max_price": price}, headers=KEY)
        assert r.status_code == 422 and r.json()["field"] == "max_price", (price, r.text)


def test_the_hot_path_and_the_route_share_the_limit_on_k(client: TestClient) -> None:
    model = route_models(CONFIG).recommend
    assert parse_query(b"k=37", model).k == 37
    with pytest.raises(ValidationError, match="less than or equal to 37"):
        parse_query(b"k=38", model)
    r = client.get("/users/u/recommendations?k=38", headers=KEY)
    assert r.status_code == 422 and "37" in r.json()["error"]


def test_a_405_says_which_methods_the_path_serves(client: TestClient) -> None:
    for method, url, allow in [("PUT", "/search", "POST"), ("GET", "/events", "POST"),
                               ("POST", "/items/i1", "DELETE"),
                               ("DELETE", "/users/u/recommendations", "GET")]:
        r = client.request(method, url, headers=KEY)
        assert r.status_code == 405, (method, url)
        assert r.headers["allow"] == allow and r.json()["field"] is None


@pytest.mark.parametrize("headers, status, words", [
    ({"content-type": "text/plain"}, 415, "expected Content-Type application/json, got "
                                          "'text/plain'"),
    ({"content-type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    ({}, 415, "expected Content-Type application/json, got none"),
    ({"content-type": "application/json; charset=utf-8"}, 200, ""),
    ({"content-type": "application/vnd.shop+json"}, 200, ""),
])
def test_a_body_must_be_sent_as_json(client: TestClient, headers: dict, status: int,
                                     words: str) -> None:
    r = client.post("/search", content=b'{"query": "lipstick"}', headers={**KEY, **headers})
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["field"] == "body" and words in r.json()["error"]


def test_a_missing_or_non_object_body_is_a_400(client: TestClient) -> None:
    json_type = {**KEY, "content-type": "application/json"}
    missing = client.post("/search", headers=json_type)
    assert missing.status_code == 400 and "missing" in missing.json()["error"]
    for content in (b"[1, 2]", b'"text"', b"{"):
        r = client.post("/search", content=content, headers=json_type)
        assert r.status_code == 400 and r.json()["field"] == "body", r.text


def test_a_list_past_its_limit_is_a_413(client: TestClient) -> None:
    many = [("exclude", f"i{i}") for i in range(201)]
    r = client.get("/users/u/recommendations", params=many, headers=KEY)
    assert r.status_code == 413 and r.json()["field"] == "exclude"
    items = {"items": [{"item_id": f"n{i}", "title": "t"} for i in range(4)]}
    assert client.put("/items", json=items, headers=KEY).status_code == 413


def test_error_messages_say_an_integer(client: TestClient) -> None:
    r = client.get("/users/u/recommendations", params={"k": "ten"}, headers=KEY)
    assert "expected an integer" in r.json()["error"] and " a int" not in r.text
