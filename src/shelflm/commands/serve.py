"""`shelflm serve ARTIFACT_DIR`: the HTTP API over a trained artifact (uvicorn, httptools).

The server (uvicorn, the engine, and with them torch) is imported only once the arguments
and the config have been checked and a server really starts, so `shelflm serve --help` and
argument errors stay fast and torch-free (a test checks).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.serving.config import ServingConfig
from shelflm.settings import load_serving_config


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    artifact_dir: Path = typer.Argument(..., help="Artifact directory to serve."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    api_key: list[str] = typer.Option(
        [], envvar="SHELFLM_API_KEY", help="Accepted X-API-Key (repeatable); none = open writes."),
    keys_for_reads: bool = typer.Option(False, help="Require the API key for reads too."),
    events_db: Path | None = typer.Option(None, help="SQLite event store file."),
    memory_store: bool = typer.Option(False, help="Keep events in memory only (not durable)."),
    cors_origin: list[str] = typer.Option([], help="Allowed CORS origin (repeatable)."),
    loader: str | None = typer.Option(None, help="'module:function' loading the artifact."),
    config: Path | None = typer.Option(
        None, help="TOML file: a serving-only one ([index], [store], [rules], [api]) or a "
        "whole-run one (`shelflm config init`), whose [serving] table is used."),
    example_user: str = typer.Option("USER", hidden=True, help="User id in the printed curls."),
    example_item: str = typer.Option("ITEM", hidden=True, help="Item id in the printed curls."),
) -> None:
    """Serve recommendations over HTTP until Ctrl-C."""
    if not artifact_dir.is_dir():
        raise typer.BadParameter(f"{artifact_dir} is not a directory", param_hint="ARTIFACT_DIR")
    cfg = load_serving_config(config)  # TOML (optional) + SHELFLM_[SERVING__]<SECTION>__<FIELD>
    cfg = _with_flags(cfg, api_key, keys_for_reads, events_db, memory_store, cors_origin, loader)
    if workers > 1 and cfg.store.backend == "memory":
        raise typer.BadParameter("each worker would hold its own events: use the SQLite "
                                 "store with several workers", param_hint="--memory-store")
    # Imported here, not at the top: only a real server start pays for them (torch included).
    import uvicorn

    # The app module builds the engine, which loads torch: deferred for the same reason.
    from shelflm.serving.http.app import ARTIFACT_ENV, CONFIG_ENV

    # Worker processes rebuild the app from these, so one code path serves 1 or N workers.
    os.environ[CONFIG_ENV] = cfg.to_json()
    os.environ[ARTIFACT_ENV] = str(artifact_dir.resolve())
    if workers > 1:
        # Events and PUT/DELETE /items go through the shared SQLite file, which every worker
        # checks before answering; the artifact's vectors are shared memory maps.
        typer.echo(f"{workers} workers share {cfg.store.path}; POST /admin/reload reaches "
                   "only the worker that answers it.")
    _print_usage(artifact_dir, f"http://{host}:{port}", example_user, example_item)
    # httptools + uvloop: h11 stalls keep-alive requests by tens of milliseconds here.
    uvicorn.run("shelflm.serving.http.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, http="httptools", loop="uvloop", log_level="warning",
                access_log=False)


def _with_flags(cfg: ServingConfig, api_key: list[str], keys_for_reads: bool,
                events_db: Path | None, memory_store: bool, cors_origin: list[str],
                loader: str | None) -> ServingConfig:
    """The config with the flags that were given laid over it (flags win over the file)."""
    api = replace(cfg.api, api_keys=api_key or cfg.api.api_keys,
                  keys_for_reads=keys_for_reads or cfg.api.keys_for_reads,
                  cors_origins=cors_origin or cfg.api.cors_origins)
    store = replace(cfg.store, backend="memory") if memory_store else cfg.store
    if events_db is not None:
        store = replace(store, path=events_db)
    return replace(cfg, api=api, store=store, model_loader=loader or cfg.model_loader)


def _print_usage(artifact_dir: Path, base: str, user: str, item: str) -> None:
    typer.echo(f"serving {artifact_dir} at {base}  (docs: {base}/docs)\n"
               f"  curl '{base}/users/{user}/recommendations?k=5'\n"
               f"  curl -X POST {base}/events -H 'content-type: application/json' "
               f"-d '{{\"events\":[{{\"user_id\":\"{user}\",\"item_id\":\"{item}\","
               f"\"event\":\"view\"}}]}}'\n"
               f"  curl {base}/items/{item}/similar?k=5\n"
               f"  curl -X POST {base}/search -H 'content-type: application/json' "
               "-d '{\"query\":\"a gift for a dad who hikes\",\"k\":5}'")


if __name__ == "__main__":  # `python -m shelflm.commands.serve`, without the other commands
    typer.run(serve)
