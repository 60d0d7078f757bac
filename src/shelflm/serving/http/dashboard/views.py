"""The dashboard's JSON made from the engine, the metrics history and the models directory."""

from __future__ import annotations

import time
from pathlib import Path

from shelflm.models.model_card import list_versions, model_card, saved_at
from shelflm.serving import versions
from shelflm.serving.engine import Engine
from shelflm.serving.errors import RequestError
from shelflm.serving.http.dashboard.history import MetricsHistory


def counters(engine: Engine) -> tuple[int, int, int]:
    """(events stored, user-cache hits, misses): what the history differences."""
    cache = engine.info()["user_cache"]
    return engine.insight.counts()["events"], int(cache["hits"]), int(cache["misses"])


def overview(engine: Engine, history: MetricsHistory) -> dict:
    """The overview page's numbers and series."""
    info, counts = engine.info(), engine.insight.counts()
    served = Path(info["artifact_dir"]) if info["artifact_dir"] else None
    saved = saved_at(served) if served is not None else None
    cache = info["user_cache"]
    looked = cache["hits"] + cache["misses"]
    return {
        "now": time.time(),
        "model": {"version": info["version"], "name": served.name if served else None,
                  "artifact_dir": info["artifact_dir"],
                  "saved": saved.isoformat(timespec="seconds") if saved else None,
                  "age_s": time.time() - saved.timestamp() if saved else None,
                  "text_encoder": info["text_encoder"], "user_tower": info["user_tower"],
                  "reload_generation": info["reload_generation"]},
        "catalog": {"items": counts["items"]}, "users": counts["users"],
        "events": counts["events"], "index": counts["index"],
        "cache": {**cache, "hit_rate": cache["hits"] / looked if looked else None},
        "worker_pid": info["worker_pid"], **history.report()}


def card(engine: Engine, version: str | None) -> dict:
    """The card of the serving artifact, or of the named version in the models directory."""
    if version is None:
        served = engine.info()["artifact_dir"]
        if not served:
            raise RequestError("version", "the serving model has no artifact folder",
                               "not_found")
        return model_card(served)
    return model_card(_version_dir(engine, version))


def _version_dir(engine: Engine, name: str) -> Path:
    """The folder of version `name`: a folder directly inside the models directory."""
    root = engine.models_root
    if root is None or "/" in name or "\\" in name or name in ("", ".", ".."):
        raise RequestError("version", f"unknown version {name!r}", "not_found")
    path = root / name
    if not (path / "config.json").is_file():
        raise RequestError("version", f"unknown version {name!r}: no artifact {path.name} "
                           "in the models directory", "not_found")
    return path


def version_list(engine: Engine) -> dict:
    """The models directory's versions, the live one and the one a rollback would serve."""
    root = engine.models_root
    served = engine.info()["artifact_dir"]
    live = Path(served) if served else None
    state = versions.read_state(root) if root is not None else None
    previous = (state or {}).get("previous") or (
        engine.previous_dir.name if engine.previous_dir else None)
    return {"models_dir": str(root) if root else None, "live": live.name if live else None,
            "previous": previous,
            "versions": list_versions(root, live) if root is not None else []}
