"""Every refusal as one JSON shape, {"error": message, "field": name} (`ErrorBody`, in the
OpenAPI of every route with each status it can answer): RequestError from the engine or the
routes, pydantic's validation errors (with their JSON path), the framework's own
401/403/404/405."""

from __future__ import annotations

import json
from email.message import Message
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelflm.serving.errors import RequestError
from shelflm.serving.http.requests import ID_MAX

# RequestError.kind -> HTTP status
STATUS = {"invalid": 422, "not_found": 404, "too_large": 413, "conflict": 409}


class FieldProblem(BaseModel):
    field: str = Field(description="where in the request, e.g. events[1].item_id")
    message: str


class ErrorBody(BaseModel):
    """What every refusal answers."""

    error: str = Field(description="what is wrong, starting with the field it is about")
    field: str | None = Field(description="the field at fault (body, k, events[1].item_id..)")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="validation errors only: each bad field (<= 20)")


# What each status means on this API; routes document the ones they can answer (`documented`).
MEANING = {
    400: "the body is not a JSON object, or the Content-Length header is not a number",
    401: "the X-API-Key header is missing",
    403: "the X-API-Key header is wrong, or writes are closed (no key configured)",
    404: "the id in the path is not known",
    405: "the method is not served on this path (the Allow header lists those that are)",
    409: "the server's state does not allow it now (e.g. no earlier version to go back to)",
    413: "the body is too large or nested too deep, or a list is longer than its limit",
    415: "the body is not sent as Content-Type: application/json",
    422: "a field is invalid (named in `field`): out of its limits, or an unknown id",
    503: "not ready: the model or the event store does not answer",
}


def documented(*statuses: int, by_reference: bool = False) -> dict[int | str, dict]:
    """The `responses` of a route answering `statuses` besides 200, all with ErrorBody as JSON.
    `by_reference` for a route whose 200 is not JSON (FastAPI would give a `model` its media
    type): the schema is then named, not given, so another route must give it."""
    if by_reference:
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        return {s: {"description": MEANING[s], "content": content} for s in sorted(statuses)}
    return {s: {"model": ErrorBody, "description": MEANING[s]} for s in sorted(statuses)}


def json_response(payload: object, status: int = 200) -> Response:
    """`payload` as JSON; json.dumps straight to bytes, as jsonable_encoder costs more than
    the engine on the cheap routes."""
    return Response(json.dumps(payload), status, media_type="application/json")


def error_response(status: int, field: str | None, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """The error body every refusal has."""
    response = json_response({"error": message, "field": field}, status)
    response.headers.update(headers or {})
    return response


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


def _is_json(content_type: str | None) -> bool:
    """True for application/json and application/*+json (FastAPI reads only these as JSON)."""
    message = Message()
    message["content-type"] = content_type or ""
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


def _whole_body_problem(first: dict, content_type: str | None) -> tuple[int, str] | None:
    """(status, message) when the body as a whole is wrong: missing (400), not sent as JSON
    (415) or not a JSON object (400)."""
    if tuple(first["loc"]) != ("body",) and first["type"] != "json_invalid":
        return None
    if first["type"] == "missing":
        return 400, "body: missing (expected a JSON object)"
    if not _is_json(content_type):
        given = repr(content_type[:80]) if content_type else "none"
        return 415, f"body: expected Content-Type application/json, got {given}"
    if first["type"] in ("json_invalid", "model_attributes_type", "dict_type", "model_type"):
        return 400, "body: malformed JSON (expected an object)"
    return None


def validation_error_response(errors: list[dict], content_type: str | None = None) -> Response:
    """422 naming the first bad field (all of them, up to 20, under "errors"); 413 when it is
    a list longer than its limit; 400 when the body is not a JSON object at all, 415 when it
    is not sent as JSON."""
    first = errors[0]
    whole = _whole_body_problem(first, content_type)
    if whole is not None:
        (status, message), field = whole, "body"
    else:
        field = json_path(tuple(first["loc"]))
        status = 413 if first["type"] == "too_long" else 422
        message = f"{field}: {first['msg']}"
    return json_response({"error": message, "field": field,
                          "errors": [{"field": json_path(tuple(e["loc"])), "message": e["msg"]}
                                     for e in errors[:20]]}, status)


def install_error_handlers(app: FastAPI) -> None:
    """Route every refusal through the shapes above."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return validation_error_response(list(exc.errors()), request.headers.get("content-type"))

    @app.exception_handler(RequestError)
    async def refused(_: Request, exc: RequestError) -> Response:
        return request_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # 405 carries Allow (the methods this path serves), as Starlette puts it on exc.
        return error_response(exc.status_code, None, str(exc.detail), exc.headers)


# Annotated, not a default: FastAPI binds one shared Path() default to the first name it meets.
UserId = Annotated[str, PathParam(min_length=1, max_length=ID_MAX, pattern="^[^/]+$")]
ItemId = Annotated[str, PathParam(min_length=1, max_length=ID_MAX, pattern="^[^/]+$")]
# Statuses any route can answer besides its own: a bad Content-Length or body (400), another
# method (405), a body past max_body_bytes (413); KEYED: what the X-API-Key check answers (422:
# a header past 256 characters); BODY: what a route reading a JSON body answers.
ANY, KEYED, BODY = (400, 405, 413), (401, 403, 422), (415, 422)
