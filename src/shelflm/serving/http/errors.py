"""Every refusal as one JSON shape, {"error": message, "field": name}: RequestError from the
engine or the routes, pydantic's validation errors (with their JSON path), the framework's
own 401/403/404/405."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelflm.serving.errors import RequestError

STATUS = {"invalid": 422, "not_found": 404, "too_large": 413}  # RequestError.kind -> HTTP


def json_response(payload: object, status: int = 200) -> Response:
    """`payload` as JSON; json.dumps straight to bytes, as jsonable_encoder costs more than
    the engine on the cheap routes."""
    return Response(json.dumps(payload), status, media_type="application/json")


def error_response(status: int, field: str | None, message: str) -> Response:
    """The error body every refusal has."""
    return json_response({"error": message, "field": field}, status)


def request_error_response(exc: RequestError) -> Response:
    """A RequestError with its kind's status."""
    return error_response(STATUS[exc.kind], exc.field, str(exc))


def json_path(loc: tuple) -> str:
    """A pydantic error location as a path into the request, e.g. events[1].item_id."""
    # The first element says where (body, query, path, header); the rest name the field.
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or ".".join(map(str, loc))


def validation_error_response(errors: list[dict]) -> Response:
    """422 naming the first bad field (all of them, up to 20, under "errors"); 400 when the
    body is not a JSON object at all."""
    first = errors[0]
    loc = tuple(first["loc"])
    not_json = first["type"] == "json_invalid" or (
        loc == ("body",) and first["type"] == "model_attributes_type")
    if not_json:
        status, field, message = 400, "body", "body: malformed JSON (expected an object)"
    else:
        field = json_path(loc)
        status, message = 422, f"{field}: {first['msg']}"
    return json_response({"error": message, "field": field,
                          "errors": [{"field": json_path(tuple(e["loc"])), "message": e["msg"]}
                                     for e in errors[:20]]}, status)


def install_error_handlers(app: FastAPI) -> None:
    """Route every refusal through the shapes above."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(RequestError)
    async def refused(_: Request, exc: RequestError) -> Response:
        return request_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, None, str(exc.detail))
