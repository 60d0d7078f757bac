"""HTTP routes (FastAPI): translate requests to Engine calls and answers to JSON, nothing more.

Cheap reads are `async def` (run on the event loop, no thread hop); routes that fsync, encode
text or load an artifact are plain `def`, so FastAPI runs them in its thread pool.
"""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from shelflm.data.errors import DataError
from shelflm.serving.config import ApiConfig, ServingConfig
from shelflm.serving.engine import Answer, Engine, Filters, UnknownIdError
from shelflm.serving.metrics import ServingMetrics
from shelflm.serving.schemas import (
    RECOMMEND_QUERY_DOCS,
    EventBatch,
    FieldError,
    FilterFields,
    ItemBatch,
    ReloadRequest,
    SearchRequest,
    SessionRequest,
    items_frame,
    parse_recommend_query,
)
from shelflm.serving.security import API_KEY_HEADER, key_dependency, key_problem
from shelflm.serving.store import Event


def _id_path() -> object:
    # A fresh Path() per parameter: FastAPI binds a shared one to the first name it meets.
    return PathParam(min_length=1, max_length=128)


class ApiError(Exception):
    """A bad request the engine could not see as such: a status, the field, a message."""

    def __init__(self, status: int, field: str, message: str) -> None:
        self.status, self.field, self.message = status, field, message


def _json(payload: object, status: int = 200) -> Response:
    # json.dumps straight to bytes: jsonable_encoder costs more than the engine on this path.
    return Response(json.dumps(payload), status, media_type="application/json")


def _error(status: int, field: str | None, message: str) -> Response:
    return _json({"error": message, "field": field}, status)


def _loc(loc: tuple) -> str:
    # The first element says where (body, query, path, header); the rest name the field.
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or ".".join(map(str, loc))


def _encode(a: Answer) -> bytes:
    return json.dumps({"source": a.source, "model_version": a.model_version, "items": [
        {"item_id": r.item_id, "score": round(r.score, 6), "title": r.title,
         "category": r.category, "because": r.because} for r in a.items]}).encode()


def _answer(a: Answer) -> Response:
    return Response(_encode(a), 200, media_type="application/json")


def create_app(engine: Engine, config: ApiConfig | None = None) -> FastAPI:
    """The FastAPI app serving `engine`."""
    config = config or ApiConfig()
    app = FastAPI(title="shelflm", summary="Real-time recommendations from a language model",
                  version="0.1.0")
    metrics = ServingMetrics(lambda: engine.index_size, lambda: engine.model_version)
    app.state.engine, app.state.metrics = engine, metrics
    write = Depends(key_dependency(config.api_keys, required=True))
    read = Depends(key_dependency(config.api_keys, required=config.keys_for_reads))
    reads = [read] if config.keys_for_reads and config.api_keys else []  # none: no cost

    def check_k(k: int) -> int:
        if k > config.max_k:
            raise ApiError(422, "k", f"k: at most {config.max_k}, got {k}")
        return k

    def filters(body: FilterFields) -> Filters:
        if body.min_price is not None and body.max_price is not None and \
                body.min_price > body.max_price:
            raise ApiError(422, "min_price", "min_price: greater than max_price")
        return Filters(body.category, body.min_price, body.max_price, tuple(body.exclude),
                       body.in_stock_only)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0]
        field = _loc(tuple(first["loc"]))
        not_json = first["type"] == "json_invalid" or (
            tuple(first["loc"]) == ("body",) and first["type"] == "model_attributes_type")
        status = 400 if not_json else 422
        field = "body" if not_json else field
        message = "body: malformed JSON (expected an object)" if not_json else \
            f"{field}: {first['msg']}"
        return _json({"error": message, "field": field,
                      "errors": [{"field": _loc(tuple(e["loc"])), "message": e["msg"]}
                                 for e in errors[:20]]}, status)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.field, exc.message)

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> Response:
        return _error(422, exc.field, str(exc))

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, exc: UnknownIdError) -> Response:
        return _error(404 if exc.field == "item_id" else 422, exc.field, str(exc))

    @app.exception_handler(DataError)
    async def bad_data(_: Request, exc: DataError) -> Response:
        return _error(422, exc.field, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, None, str(exc.detail))

    @app.post("/events", dependencies=[write], tags=["events"])
    def post_events(body: EventBatch) -> Response:
        """Store a batch of events durably; the next recommendation already uses them."""
        if len(body.events) > config.max_events:
            raise ApiError(413, "events", f"events: at most {config.max_events} per batch")
        now = int(time.time())
        events = [Event(e.user_id, e.item_id, e.event,
                        now if e.timestamp is None else e.timestamp, e.value) for e in body.events]
        stored = engine.ingest(events)
        metrics.events.inc(stored)
        return _json({"stored": stored})

    @app.get("/users/{user_id}/recommendations", dependencies=reads, tags=["recommend"],
             openapi_extra={"parameters": RECOMMEND_QUERY_DOCS})
    async def user_recommendations(user_id: str, request: Request) -> Response:
        """Top-k for a user from their events up to now (popular items for unknown users)."""
        return recommend_response(user_id, request.query_params)

    def recommend_response(user_id: str, params: QueryParams) -> Response:
        if len(user_id) > 128:
            raise ApiError(422, "user_id", "user_id: at most 128 characters")
        k, f = parse_recommend_query(params, config.max_k)
        body = engine.recommend_encoded(user_id, k, Filters(**f), _encode)
        return Response(body, 200, media_type="application/json")

    @app.post("/sessions/recommendations", dependencies=reads, tags=["recommend"])
    async def session_recommendations(body: SessionRequest) -> Response:
        """Top-k for an anonymous session whose events come with the request."""
        pairs = [(e.item_id, e.event) for e in body.events]
        return _answer(engine.recommend_session(pairs, check_k(body.k), filters(body)))

    @app.get("/items/{item_id}/similar", dependencies=reads, tags=["items"])
    async def similar(item_id: str = _id_path(), k: int = Query(10, ge=1)) -> Response:
        """Items nearest to one item."""
        return _answer(engine.similar(item_id, check_k(k)))

    @app.post("/search", dependencies=reads, tags=["recommend"])
    def search(body: SearchRequest) -> Response:
        """Items answering a free-text question, personalised when user_id is given."""
        return _answer(engine.search(body.query, check_k(body.k), body.user_id, filters(body)))

    @app.put("/items", dependencies=[write], tags=["items"])
    def put_items(body: ItemBatch) -> Response:
        """Add or replace products; they are recommendable when this returns."""
        if len(body.items) > config.max_items:
            raise ApiError(413, "items", f"items: at most {config.max_items} per batch")
        return _json({"upserted": engine.upsert_items(items_frame(body.items))})

    @app.delete("/items/{item_id}", dependencies=[write], tags=["items"])
    def delete_item(item_id: str = _id_path()) -> Response:
        """Remove a product from every answer."""
        if engine.delete_items([item_id]) == 0:
            raise UnknownIdError("item_id", item_id)
        return _json({"deleted": item_id})

    @app.get("/health/live", tags=["health"])
    async def live() -> Response:
        """The process answers."""
        return _json({"status": "ok"})

    @app.get("/health/ready", tags=["health"])
    def ready() -> Response:
        """The model is loaded and the event store answers."""
        try:
            engine.store.recent("")
        except Exception as exc:  # any store failure means: do not send traffic here
            return _json({"status": "unavailable", "error": str(exc)}, 503)
        return _json({"status": "ready", "model_version": engine.model_version})

    @app.get("/metrics", tags=["health"])
    async def prometheus() -> Response:
        """Prometheus exposition."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/model", dependencies=reads, tags=["admin"])
    async def model() -> Response:
        """Which artifact is serving."""
        return _json(engine.info())

    @app.post("/admin/reload", dependencies=[write], tags=["admin"])
    def reload(body: ReloadRequest) -> Response:
        """Swap in another artifact directory in every worker without dropping a request."""
        directory = Path(body.artifact_dir)
        if not directory.is_dir():
            raise ApiError(422, "artifact_dir", f"artifact_dir: {directory} is not a directory")
        try:
            version = engine.reload(directory)
        except (OSError, ValueError, KeyError) as exc:
            raise ApiError(422, "artifact_dir", f"artifact_dir: cannot load: {exc}") from exc
        # Every other worker follows on its next change check (the store records it).
        return _json({"model_version": version, "reload_generation": engine.reload_generation})

    hot_route = next(r for r in app.routes if getattr(r, "path", "") == HOT_PATH)
    app.add_middleware(lambda inner: _hot_path(inner, recommend_response, hot_route, config))
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(lambda inner: metrics.middleware(inner))
    return app


HOT_PATH = "/users/{user_id}/recommendations"
_KEY_HEADER = API_KEY_HEADER.lower().encode()


def _hot_path(app, respond, route: object, config: ApiConfig):
    """Answers GET /users/{id}/recommendations before FastAPI's routing and dependency
    solving, which cost more CPU than the engine's cached answer; same handler, same errors,
    same metrics label. Anything unusual falls through to the declared route."""
    reads_need_key = config.keys_for_reads and bool(config.api_keys)

    async def fast(scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        user_id = path[7:-16] if path.startswith("/users/") and \
            path.endswith("/recommendations") and scope["method"] == "GET" else ""
        if not user_id or "/" in user_id:
            return await app(scope, receive, send)
        if reads_need_key:
            given = next((v for k, v in scope["headers"] if k == _KEY_HEADER), None)
            if given is not None and len(given) > 256:
                return await app(scope, receive, send)  # the route's 422 for the header
            problem = key_problem(None if given is None else given.decode("latin-1"),
                                  config.api_keys)
            if problem is not None:
                scope["route"] = route
                return await _error(problem[0], None, problem[1])(scope, receive, send)
        try:
            response = respond(user_id, QueryParams(scope.get("query_string", b"")))
        except ApiError as exc:
            response = _error(exc.status, exc.field, exc.message)
        except FieldError as exc:
            response = _error(422, exc.field, str(exc))
        scope["route"] = route  # the metrics label: the route template
        await response(scope, receive, send)

    return fast


CONFIG_ENV = "SHELFLM_SERVE_CONFIG"  # JSON of ServingConfig, set by `shelflm serve`
ARTIFACT_ENV = "SHELFLM_SERVE_ARTIFACT"


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes: artifact and config come from the environment."""
    config = ServingConfig.model_validate_json(os.environ.get(CONFIG_ENV, "{}"))
    engine = Engine.from_artifact(os.environ[ARTIFACT_ENV], config)
    engine.warm_up()  # before /health/ready answers, not on the first search
    app = create_app(engine, config.api)
    # The model, tokenizer and library objects live as long as the worker: moved out of the
    # collector's sight, a full collection stops walking ~0.5 M objects (~0.4 s measured on
    # the Beauty artifact, a p99 spike each time).
    gc.collect()
    gc.freeze()
    return app
