"""Request-body limits: a body past the limit is refused with a 413 naming it, before the key
check and the parsing, and without reading more of it than the limit (ASGI-level byte counts,
and a real uvicorn server fed by a lying raw-socket client)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient

from shelflm.serving.config import ApiConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.app import create_app
from shelflm.serving.http.limits import json_depth
from shelflm.serving.http.requests import ItemIn

KEY = {"X-API-Key": "s3cret"}
MiB = 1 << 20
CHUNK = 64 * 1024


class Sender:
    """An ASGI receive() streaming `total` bytes in CHUNK pieces, counting what was taken."""

    def __init__(self, total: int, start: bytes = b'{"query": "') -> None:
        self.total, self.start, self.taken = total, start, 0

    async def __call__(self) -> dict:
        if self.taken >= self.total:
            await asyncio.sleep(3600)  # a server would now report the disconnect
        piece = min(CHUNK, self.total - self.taken)
        body = (self.start + b"x" * CHUNK)[:piece] if self.taken == 0 else b"x" * piece
        self.taken += piece
        return {"type": "http.request", "body": body, "more_body": self.taken < self.total}


def call(app, method: str, path: str, headers: dict, receive: Sender) -> tuple[int, dict, dict]:
    """Drive the ASGI app once: (status, response headers, JSON body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "server": ("test", 80),
             "client": ("test", 1), "headers": [(k.lower().encode(), v.encode())
                                                for k, v in headers.items()]}
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, json.loads(body)


@pytest.fixture
def app(engine: Engine):
    return create_app(engine, ApiConfig(api_keys=["s3cret"]))


def test_a_200_mb_search_with_its_length_declared_is_refused_unread(app) -> None:
    sender = Sender(200 * MiB)
    status, headers, body = call(app, "POST", "/search", {
        "content-type": "application/json", "content-length": str(200 * MiB)}, sender)
    assert status == 413 and body["field"] == "body"
    assert "max_body_bytes" in body["error"] and f"{MiB:,}" in body["error"]
    assert headers["connection"] == "close"  # the server stops reading the rest
    assert sender.taken == 0


@pytest.mark.parametrize("headers", [{"transfer-encoding": "chunked"},
                                     {"content-length": "100"}])  # chunked, or lying
def test_a_200_mb_streamed_search_is_cut_off_at_the_limit(app, headers: dict) -> None:
    sender = Sender(200 * MiB)
    status, _, body = call(app, "POST", "/search",
                           {"content-type": "application/json", **headers}, sender)
    assert status == 413 and "max_body_bytes" in body["error"]
    assert MiB < sender.taken <= MiB + CHUNK


@pytest.mark.parametrize("headers", [{"content-length": str(7_600_000)},
                                     {"transfer-encoding": "chunked"}])
def test_an_unauthenticated_big_event_post_is_a_413_not_a_401(app, headers: dict) -> None:
    sender = Sender(7_600_000, start=b'{"events": [')
    status, _, body = call(app, "POST", "/events",
                           {"content-type": "application/json", **headers}, sender)
    assert status == 413 and "max_body_bytes" in body["error"]
    assert sender.taken <= MiB + CHUNK


def test_put_items_has_its_own_larger_limit(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"], max_body_bytes=2048,
                                                max_items_body_bytes=MiB)))
    items = [{"item_id": f"n{i}", "title": f"glitter mascara {i}", "description": "d" * 4000}
             for i in range(3)]
    assert c.put("/items", json={"items": items}, headers=KEY).status_code == 200
    events = [{"user_id": "u" * 100, "item_id": "i1"}] * 30
    r = c.post("/events", json={"events": events}, headers=KEY)
    assert r.status_code == 413 and "2,048" in r.json()["error"]
    r = c.put("/items", json={"items": items * 100}, headers=KEY)
    assert r.status_code == 413 and "max_items_body_bytes" in r.json()["error"]


def test_the_default_limits_fit_full_batches() -> None:
    config = ApiConfig()
    event = {"user_id": "u" * 128, "item_id": "i" * 128, "event": "add_to_cart",
             "timestamp": 2**40, "value": 1.5}
    events = json.dumps({"events": [event] * config.max_events}).encode()
    assert len(events) < config.max_body_bytes
    item = {"item_id": "i" * 128, "title": "t" * 1000, "brand": "b" * 256,
            "category": "c" * 512, "price": 19.99, "description": "d" * 20_000,
            "attributes": {f"{j:064d}": "v" * 256 for j in range(32)}, "in_stock": True}
    ItemIn.model_validate(item)  # at every field limit of the request model
    items = json.dumps({"items": [item] * config.max_items}).encode()
    assert len(items) < config.max_items_body_bytes


def test_deep_json_is_refused_and_brackets_in_strings_do_not_count(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(max_json_depth=8)))
    deep = b'{"query": "lipstick", "exclude": ' + b"[" * 9 + b"]" * 9 + b"}"
    r = c.post("/search", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"
    assert "max_json_depth" in r.json()["error"] and "8" in r.json()["error"]
    r = c.post("/search", json={"query": "lip [[[[[[[[[[[[ {{{{{{{{{{ \" ]"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("text, depth", [
    (b"1", 0), (b"[]", 1), (b'{"a": [{"b": {}}]}', 4), (b'["[[[[", "\\"[[["]', 1),
    (b'[[1], [[2]]]', 3), (b"[" * 600 + b"]" * 600, 600), (b'["a\\\\", ["b"]]', 2),
    (b'["x\\\\\\"[", {"\\\\": []}]', 3)])
def test_json_depth(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_agrees_with_the_parser_on_tricky_strings() -> None:
    rng = random.Random(0)
    tricky = ["a[", "\\", '\\"[{', "x\\\\", ']}"', '\\\\"[[', "\u00e9{"]

    def value(level: int) -> object:
        roll = rng.random()
        if level > 6 or roll < 0.3:
            return rng.choice([*tricky, 1, None])
        if roll < 0.65:
            return [value(level + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(tricky) + str(i): value(level + 1) for i in range(rng.randint(0, 3))}

    def depth(v: object) -> int:
        inner = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else None
        return 0 if inner is None else 1 + max(map(depth, inner), default=0)

    for _ in range(500):
        v = value(0)
        text = json.dumps(v).encode()
        assert json_depth(text) == depth(v), text


def test_bodies_under_the_limit_and_requests_without_one_pass(engine: Engine) -> None:
    c = TestClient(create_app(engine, ApiConfig(api_keys=["s3cret"], max_body_bytes=1024)))
    assert c.post("/search", json={"query": "red lipstick", "k": 2}).status_code == 200
    assert c.get("/users/u/recommendations").status_code == 200
    assert c.delete("/items/i1", headers=KEY).status_code == 200
    r = c.post("/search", content=b"{}", headers={"content-length": "x"})
    assert r.status_code == 400 and "Content-Length" in r.json()["error"]


@pytest.fixture
def server(engine: Engine) -> Iterator[int]:
    """A real uvicorn server (httptools, as `shelflm serve` runs) on a free loopback port."""
    app = create_app(engine, ApiConfig(api_keys=["s3cret"], max_body_bytes=4096))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http="httptools", loop="asyncio",
                            log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.started
    yield srv.servers[0].sockets[0].getsockname()[1]
    srv.should_exit = True
    thread.join(10)


def _exchange(port: int, head: bytes, body: bytes) -> bytes:
    """Send a request head and only part of its body, then read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b"\r\n\r\n" + body)
        answer = b""
        while chunk := s.recv(65536):  # the server closes after its answer
            answer += chunk
    return answer


def test_a_real_server_answers_a_lying_client_without_waiting_for_the_body(server) -> None:
    head = (b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200")  # 200 MB promised, 1 KB sent
    answer = _exchange(server, head, b'{"query": "' + b"x" * 1000)
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    assert b"max_body_bytes" in answer
    chunked = b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
    answer = _exchange(server, chunked, b"1388\r\n" + b"x" * 5000 + b"\r\n")  # no end chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"max_body_bytes" in answer


@pytest.mark.parametrize("field, value", [("max_body_bytes", 10), ("max_items_body_bytes", 0),
                                          ("max_json_depth", 2), ("max_json_depth", 10_000)])
def test_limits_out_of_range_name_their_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        ApiConfig(**{field: value})
