"""GET /users/{id}/recommendations answered before FastAPI's routing and dependency solving,
which cost more CPU than the engine's cached answer. Same request model, same handler, same
metrics label; anything unusual (a bad value, a long id, a key header to check for length)
falls through to the declared route, which answers it with the usual errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import get_origin

from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from shelflm.serving.config import ApiConfig
from shelflm.serving.errors import RequestError
from shelflm.serving.http.errors import error_response
from shelflm.serving.http.requests import RecommendQuery
from shelflm.serving.http.security import API_KEY_HEADER, key_problem

HOT_PATH = "/users/{user_id}/recommendations"
_KEY_HEADER = API_KEY_HEADER.lower().encode()
_PREFIX, _SUFFIX = "/users/", "/recommendations"
Asgi = Callable[..., Awaitable[None]]


def parse_query(query_string: bytes, model: type[RecommendQuery] = RecommendQuery
                ) -> RecommendQuery:
    """`model` (the route's query model) from a raw query string, read as FastAPI reads a
    query model: list fields take every value, the others the last one (ValidationError when
    it is not valid)."""
    params = QueryParams(query_string)
    data = {name: params.getlist(name) if many else params[name]
            for name, many in _fields(model) if name in params}
    return model.model_validate(data)


@cache
def _fields(model: type[RecommendQuery]) -> tuple[tuple[str, bool], ...]:
    """(name, whether it is a list) of each field of a query model."""
    return tuple((name, get_origin(f.annotation) is list) for name, f in model.model_fields.items())


def _user_id(scope: dict) -> str:
    path = scope.get("path", "") if scope["type"] == "http" else ""
    if scope.get("method") != "GET" or not path.startswith(_PREFIX) or \
            not path.endswith(_SUFFIX):
        return ""
    user_id = path[len(_PREFIX):-len(_SUFFIX)]
    return "" if "/" in user_id or len(user_id) > 128 else user_id


def hot_path(app: Asgi, respond: Callable[[str, RecommendQuery], Response], route: object,
             config: ApiConfig, model: type[RecommendQuery] = RecommendQuery) -> Asgi:
    """ASGI middleware answering the hot route with `respond` (the route's own handler) and
    `model` (the route's query model)."""
    reads_need_key = config.keys_for_reads and bool(config.api_keys)

    async def fast(scope, receive, send):
        user_id = _user_id(scope)
        if not user_id:
            return await app(scope, receive, send)
        if reads_need_key:
            given = next((v for k, v in scope["headers"] if k == _KEY_HEADER), None)
            if given is not None and len(given) > 256:
                return await app(scope, receive, send)  # the route's 422 for the header
            problem = key_problem(None if given is None else given.decode("latin-1"),
                                  config.api_keys)
            if problem is not None:
                scope["route"] = route
                return await error_response(problem[0], None, problem[1])(scope, receive, send)
        try:
            response = respond(user_id, parse_query(scope.get("query_string", b""), model))
        except (ValidationError, RequestError):
            return await app(scope, receive, send)
        scope["route"] = route  # the metrics label: the route template
        await response(scope, receive, send)

    return fast
