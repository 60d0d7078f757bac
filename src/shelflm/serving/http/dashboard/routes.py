"""The dashboard at /dashboard: one page of static files (ES modules and uPlot, shipped in the
package: nothing from the network) and the JSON it reads beyond the API's own routes. The
page's shell holds no data and is open; every data route takes the API's read dependency,
reload and rollback its admin (write) key, exactly as the API does."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from shelflm.models.model_card import compare_cards, finite
from shelflm.serving import versions
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.dashboard import views
from shelflm.serving.http.dashboard.history import MetricsHistory
from shelflm.serving.http.errors import ANY, BODY, KEYED, ItemId, UserId, documented
from shelflm.serving.http.errors import json_response as _json
from shelflm.serving.http.metrics import ServingMetrics
from shelflm.serving.http.requests import ReloadRequest

STATIC = Path(__file__).parent / "static"
# The page runs only its own scripts and talks only to this server.
HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
           "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}
TAGS = ["dashboard"]


def json_response(content: object, status: int = 200) -> Response:
    """JSON without NaN (a browser's JSON.parse refuses it)."""
    return _json(finite(content), status)


def dashboard_routes(app: FastAPI, engine: Engine, reads: list, write,
                     metrics: ServingMetrics) -> MetricsHistory:
    """Attach the page, its files and its JSON; returns the metrics history to sample."""
    history = MetricsHistory(metrics, lambda: views.counters(engine))
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")

    @app.get("/dashboard", include_in_schema=False)
    async def page() -> Response:
        return RedirectResponse("/dashboard/", 307)

    @app.get("/dashboard/", include_in_schema=False)
    async def shell() -> Response:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    def keyed(*statuses: int) -> dict:  # what a read route answers besides 200
        return documented(*ANY, *(KEYED if reads else ()), *statuses)

    @app.get("/dashboard/api/overview", dependencies=reads, tags=TAGS, responses=keyed())
    def overview() -> Response:
        """Catalog, users, events, the model, the index, the user cache and the last hour's
        requests/s, p50/p99 latency, events/min and cache hit rate (this worker's)."""
        history.sample()
        return json_response(views.overview(engine, history))

    @app.get("/dashboard/api/items/{item_id}", dependencies=reads, tags=TAGS,
             responses=keyed(404, 422))
    def item(item_id: ItemId) -> Response:
        """One item: fields, the text its vector is made from, recent events."""
        return json_response(engine.insight.item(item_id))

    @app.get("/dashboard/api/users/{user_id}", dependencies=reads, tags=TAGS,
             responses=keyed(422))
    def user(user_id: UserId) -> Response:
        """A shopper's timeline (their last 50 events, oldest first)."""
        return json_response(engine.insight.user(user_id))

    _model_routes(app, engine, reads, keyed)
    _operations(app, engine, write)
    return history


def _model_routes(app: FastAPI, engine: Engine, reads: list, keyed) -> None:
    missing = keyed(404, 422)

    @app.get("/dashboard/api/model", dependencies=reads, tags=TAGS, responses=missing)
    def card(version: str | None = Query(None, max_length=200)) -> Response:
        """The model card of the serving artifact, or of a version in the models directory."""
        return json_response(views.card(engine, version))

    @app.get("/dashboard/api/versions", dependencies=reads, tags=TAGS, responses=keyed())
    def listing() -> Response:
        """The versions in the models directory, the live one and the one before it."""
        return json_response(views.version_list(engine))

    @app.get("/dashboard/api/compare", dependencies=reads, tags=TAGS, responses=missing)
    def compare(a: str = Query(..., max_length=200), b: str = Query(..., max_length=200)
                ) -> Response:
        """Two versions side by side: settings that differ, metrics of each."""
        return json_response(compare_cards(views.card(engine, a), views.card(engine, b)))


def _operations(app: FastAPI, engine: Engine, write) -> None:
    @app.post("/dashboard/api/reload", dependencies=[write], tags=TAGS,
              responses=documented(*ANY, *KEYED, *BODY, 404))
    def reload(body: ReloadRequest) -> Response:
        """Serve another version in every worker (as POST /admin/reload), recorded in the
        models directory's refresh.json when the nearline loop keeps one."""
        return json_response(_swap(engine, body.artifact_dir, "reload"))

    @app.post("/dashboard/api/rollback", dependencies=[write], tags=TAGS,
              responses=documented(*ANY, *KEYED, 404, 409))  # 422: the version's load
    def rollback() -> Response:
        """Serve again the version before the live one: refresh.json's previous version
        when the models directory has one, else what this server served before its last
        reload; 409 when there is none."""
        state = versions.read_state(engine.models_root) if engine.models_root else None
        target = (state or {}).get("previous") or engine.previous_dir
        if not target:
            raise RequestError("rollback", "no earlier version to go back to: nothing was "
                               "reloaded since the server started", "conflict")
        return json_response(_swap(engine, str(target), "rollback"))


def _swap(engine: Engine, target: str, decision: str) -> dict:
    version = engine.reload(target)
    served = Path(engine.info()["artifact_dir"])
    if engine.models_root is not None:
        versions.swapped(engine.models_root, served.name, decision, by="dashboard",
                         model_version=version)
    return {"model_version": version, "artifact_dir": served.name,
            "reload_generation": engine.reload_generation}
