"""HTTP routes (FastAPI): translate requests to Engine calls and answers to JSON, nothing more.

Cheap reads are `async def` (run on the event loop, no thread hop); routes that fsync, encode
text or load an artifact are plain `def`, so FastAPI runs them in its thread pool.

Annotations are evaluated when a route is declared (no `from __future__ import annotations`):
the request models are made per app, with its limits (requests.route_models).
"""

import gc
import os
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse, Response

from shelflm.serving.config import ApiConfig, ServingConfig
from shelflm.serving.engine import Answer, Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.assist_routes import assist_routes
from shelflm.serving.http.dashboard import dashboard_routes, sampling
from shelflm.serving.http.errors import (
    ANY,
    BODY,
    KEYED,
    ItemId,
    UserId,
    documented,
    install_error_handlers,
    json_response,
)
from shelflm.serving.http.hot_path import HOT_PATH, hot_path
from shelflm.serving.http.limits import body_limits
from shelflm.serving.http.metrics import ServingMetrics
from shelflm.serving.http.requests import (
    RecommendQuery,
    ReloadRequest,
    RouteModels,
    items_frame,
    route_models,
)
from shelflm.serving.http.responses import (
    NOT_READY,
    AnswerBody,
    Deleted,
    Live,
    Ready,
    Reloaded,
    RenderedAnswers,
    Stored,
    Upserted,
    answers_with,
    render_answer,
)
from shelflm.serving.http.risk_routes import risk_routes
from shelflm.serving.http.security import key_dependency
from shelflm.serving.store import Event

CONFIG_ENV = "SHELFLM_SERVE_CONFIG"  # JSON of ServingConfig, set by `shelflm serve`
ARTIFACT_ENV = "SHELFLM_SERVE_ARTIFACT"
RELOAD_START_ENV = "SHELFLM_SERVE_RELOAD_START"  # the store's reload generation at launch

ANSWER = answers_with(AnswerBody, "the ranked items")


def _answer(a: Answer) -> Response:
    return Response(render_answer(a), 200, media_type="application/json")


def create_app(engine: Engine, config: ApiConfig | None = None) -> FastAPI:
    """The FastAPI app serving `engine`."""
    config = config or ApiConfig()
    app = FastAPI(title="shelflm", summary="Real-time recommendations from a language model",
                  version="0.1.0", lifespan=sampling)
    metrics = ServingMetrics(lambda: engine.index_size, lambda: engine.model_version,
                             lambda: engine.reload_generation,
                             lambda: engine.reranker and engine.reranker.stats(),
                             engine.risk.stats)
    # Two request shapes per cached user, as many users as the engine keeps.
    answers = RenderedAnswers(engine, 2 * engine.config.user_cache_size,
                              engine.config.response_cache_mb << 20)
    app.state.engine, app.state.metrics = engine, metrics
    install_error_handlers(app)
    write = Depends(key_dependency(config.api_keys, required=True,
                                   open_without_keys=config.open_writes))
    read = Depends(key_dependency(config.api_keys, required=config.keys_for_reads))
    reads = [read] if config.keys_for_reads and config.api_keys else []  # none: no cost
    models = route_models(config)  # every limit of a request (k <= max_k ...) is in its model

    def recommend_response(user_id: str, query: RecommendQuery) -> Response:
        data = answers.recommend(user_id, query.k, query.filters())
        return Response(data, 200, media_type="application/json")

    _read_routes(app, engine, reads, models, recommend_response)
    _write_routes(app, engine, models, write, metrics)
    risk_routes(app, engine, write)
    assist_routes(app, engine, reads, config)
    app.state.history = dashboard_routes(app, engine, reads, write, metrics)
    _health_routes(app, engine, metrics)

    hot_route = next(r for r in app.routes if getattr(r, "path", "") == HOT_PATH)
    app.add_middleware(lambda inner: hot_path(inner, recommend_response, hot_route, config,
                                                models.recommend))
    app.add_middleware(lambda inner: body_limits(inner, config))  # before keys and parsing
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(lambda inner: metrics.middleware(inner))
    return app


def _read_routes(app: FastAPI, engine: Engine, reads: list, models: RouteModels,
                 recommend) -> None:
    keyed = KEYED if reads else ()

    @app.get(HOT_PATH, dependencies=reads, tags=["recommend"],
             responses={**ANSWER, **documented(*ANY, *keyed, 404, 422)})
    async def user_recommendations(user_id: UserId,
                                   query: Annotated[models.recommend, Query()]) -> Response:
        """Top-k for a user from their events up to now (popular items for unknown users)."""
        return recommend(user_id, query)

    @app.post("/sessions/recommendations", dependencies=reads, tags=["recommend"],
              responses={**ANSWER, **documented(*ANY, *keyed, *BODY)})
    async def session_recommendations(body: models.session) -> Response:
        """Top-k for an anonymous session whose events come with the request."""
        pairs = [(e.item_id, e.event) for e in body.events]
        return _answer(engine.recommend_session(pairs, body.k, body.filters()))

    @app.get("/items/{item_id}/similar", dependencies=reads, tags=["items"],
             responses={**ANSWER, **documented(*ANY, *keyed, 404, 422)})
    async def similar(item_id: ItemId, query: Annotated[models.similar, Query()]) -> Response:
        """Items nearest to one item."""
        return _answer(engine.similar(item_id, query.k))

    @app.post("/search", dependencies=reads, tags=["recommend"],
              responses={**ANSWER, **documented(*ANY, *keyed, *BODY)})
    def search(body: models.search) -> Response:
        """Items answering a free-text question, personalised when user_id is given."""
        return _answer(engine.search(body.query, body.k, body.user_id, body.filters()))

    @app.get("/model", dependencies=reads, tags=["admin"], responses=documented(*ANY, *keyed))
    async def model() -> Response:
        """Which artifact is serving."""
        return json_response(engine.info())


def _write_routes(app: FastAPI, engine: Engine, models: RouteModels, write,
                  metrics: ServingMetrics) -> None:
    @app.post("/events", dependencies=[write], tags=["events"],
              responses={**answers_with(Stored, "stored, on disk"),
                         **documented(*ANY, *KEYED, *BODY)})
    def post_events(body: models.events) -> Response:
        """Store a batch of events durably; the next recommendation already uses them."""
        now = int(time.time())
        events = [Event(e.user_id, e.item_id, e.event,
                        now if e.timestamp is None else e.timestamp, e.value) for e in body.events]
        stored = engine.ingest(events)
        metrics.events.inc(stored)
        return json_response({"stored": stored})

    @app.put("/items", dependencies=[write], tags=["items"],
             responses={**answers_with(Upserted, "recommendable now"),
                        **documented(*ANY, *KEYED, *BODY)})
    def put_items(body: models.items) -> Response:
        """Add or replace products; they are recommendable when this returns."""
        return json_response({"upserted": engine.upsert_items(items_frame(body.items))})

    @app.delete("/items/{item_id}", dependencies=[write], tags=["items"],
                responses={**answers_with(Deleted, "gone from every answer"),
                           **documented(*ANY, *KEYED, 404)})
    def delete_item(item_id: ItemId) -> Response:
        """Remove a product from every answer."""
        if engine.delete_items([item_id]) == 0:
            raise RequestError.unknown_id("item_id", item_id, "not_found")
        return json_response({"deleted": item_id})

    @app.post("/admin/reload", dependencies=[write], tags=["admin"],
              responses={**answers_with(Reloaded, "serving the new artifact"),
                         **documented(*ANY, *KEYED, *BODY, 404)})
    def reload(body: ReloadRequest) -> Response:
        """Swap in another artifact folder, inside the models directory (a relative path is
        taken inside it), in every worker without dropping a request; a folder that is
        outside or does not load is refused and the old model serves on."""
        version = engine.reload(body.artifact_dir)  # the engine checks and refuses (4xx)
        # Every other worker follows on its next change check (the store records it).
        return json_response({"model_version": version,
                              "reload_generation": engine.reload_generation})


def _health_routes(app: FastAPI, engine: Engine, metrics: ServingMetrics) -> None:
    @app.get("/health/live", tags=["health"],
             responses={**answers_with(Live, "the process answers"), **documented(*ANY)})
    async def live() -> Response:
        """The process answers."""
        return json_response({"status": "ok"})

    @app.get("/health/ready", tags=["health"], responses={
        **answers_with(Ready, "ready for traffic"), **documented(*ANY), 503: NOT_READY})
    def ready() -> Response:
        """The model is loaded and the event store answers."""
        try:
            engine.check_ready()
        except Exception as exc:  # any store failure means: do not send traffic here
            return json_response({"status": "unavailable", "error": str(exc)}, 503)
        return json_response({"status": "ready", "model_version": engine.model_version})

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse,
             responses=documented(*ANY, by_reference=True))
    async def prometheus() -> Response:
        """Prometheus exposition."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes: artifact and config come from the environment."""
    config = ServingConfig.from_json(os.environ.get(CONFIG_ENV, "{}"))
    start = os.environ.get(RELOAD_START_ENV)
    engine = Engine.from_artifact(os.environ[ARTIFACT_ENV], config,
                                  None if start is None else int(start))
    engine.warm_up()  # before /health/ready answers, not on the first search
    app = create_app(engine, config.api)
    # The model, tokenizer and library objects live as long as the worker: moved out of the
    # collector's sight, a full collection stops walking ~0.5 M objects (~0.4 s measured on
    # the Beauty artifact, a p99 spike each time).
    gc.collect()
    gc.freeze()
    return app
