"""Request-body limits, as ASGI middleware in front of every route: the size is checked while
the body is read (a Content-Length past the limit before a byte of it), then the JSON nesting
depth, all before the key check and the parsing. A refusal is a 413 naming the limit, sent
with `Connection: close` so the server stops reading what the client still sends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np
from starlette.requests import ClientDisconnect

from shelflm.serving.config import ApiConfig
from shelflm.serving.http.errors import error_response

Asgi = Callable[..., Awaitable[None]]

_NOT_SYNTAX = bytes(b for b in range(256) if b not in b'[]{}"')
_OPEN = np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (0 for a scalar); brackets inside
    strings do not count. Bytes methods and numpy only: a few ms a MiB."""
    # Escapes go first (\\ before \", as a parser reads them left to right), so every quote
    # left opens or closes a string; then only quotes and brackets are kept, and every other
    # piece between quotes is outside the strings.
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    syntax = body.translate(None, _NOT_SYNTAX)
    brackets = np.frombuffer(b"".join(syntax.split(b'"')[::2]), np.uint8)
    steps = 2 * _OPEN[brackets].astype(np.int64) - 1  # +1 opens, -1 closes
    return int(np.cumsum(steps).max(initial=0))


def body_limit(config: ApiConfig, scope: dict) -> tuple[int, str]:
    """(bytes, config field) allowed for this request's body: PUT /items carries catalog rows,
    the one route with big bodies; every other route has max_body_bytes."""
    path = scope["path"][len(scope.get("root_path", "")):] or scope["path"]
    if scope["method"] == "PUT" and path.rstrip("/") == "/items":
        return config.max_items_body_bytes, "max_items_body_bytes"
    return config.max_body_bytes, "max_body_bytes"


def _declared(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """(Content-Length as given or None, whether the body is chunked)."""
    length, chunked = None, False
    for name, value in headers:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _read(receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes (the rest stays unread)."""
    body, more = bytearray(), True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        more = message.get("more_body", False)
    return bytes(body)


def _replay(body: bytes, receive) -> Callable[[], Awaitable[dict]]:
    """A receive() handing over `body` once, then what the server says (a disconnect)."""
    given = False

    async def replay() -> dict:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def body_limits(app: Asgi, config: ApiConfig) -> Asgi:
    """ASGI middleware applying max_body_bytes (max_items_body_bytes on PUT /items) and
    max_json_depth to every HTTP request; a request without a body passes straight on."""

    async def refuse(scope, receive, send, status: int, message: str) -> None:
        response = error_response(status, "body", message)
        response.headers["connection"] = "close"
        await response(scope, receive, send)

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        length, chunked = _declared(scope["headers"])
        if (length is None or length == b"0") and not chunked:
            return await app(scope, receive, send)
        limit, name = body_limit(config, scope)
        if length is not None and not length.isdigit():
            return await refuse(scope, receive, send, 400,
                                f"body: Content-Length {length[:32].decode('latin-1')!r} is "
                                "not a number")
        if length is not None and (len(length) > 15 or int(length) > limit):
            return await refuse(scope, receive, send, 413, f"body: Content-Length "
                                f"{length.decode()} is more than the {limit:,} bytes "
                                f"allowed ({name})")
        try:
            body = await _read(receive, limit)
        except ClientDisconnect:
            return None  # nobody to answer
        if body is None:
            return await refuse(scope, receive, send, 413,
                                f"body: more than the {limit:,} bytes allowed ({name})")
        depth = config.max_json_depth
        if body.count(b"[") + body.count(b"{") > depth and json_depth(body) > depth:
            return await refuse(scope, receive, send, 413, f"body: JSON nested deeper than "
                                f"{depth} levels (max_json_depth)")
        await app(scope, _replay(body, receive), send)

    return limited
