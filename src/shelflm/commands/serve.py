"""`shelflm serve ARTIFACT_DIR`: the HTTP API over a trained artifact (uvicorn, httptools)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


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
    import uvicorn

    from shelflm.config import load_serving_config
    from shelflm.serving.api import ARTIFACT_ENV, CONFIG_ENV

    if not artifact_dir.is_dir():
        raise typer.BadParameter(f"{artifact_dir} is not a directory", param_hint="ARTIFACT_DIR")
    cfg = load_serving_config(config)  # TOML (optional) + SHELFLM_[SERVING__]<SECTION>__<FIELD>
    api = cfg.api.model_copy(update={
        "api_keys": api_key or cfg.api.api_keys,
        "keys_for_reads": keys_for_reads or cfg.api.keys_for_reads,
        "cors_origins": cors_origin or cfg.api.cors_origins})
    store = cfg.store.model_copy(update={"backend": "memory"} if memory_store else {})
    if events_db is not None:
        store = store.model_copy(update={"path": events_db})
    cfg = cfg.model_copy(update={"api": api, "store": store,
                                 "model_loader": loader or cfg.model_loader})
    # Worker processes rebuild the app from these, so one code path serves 1 or N workers.
    os.environ[CONFIG_ENV] = cfg.model_dump_json()
    os.environ[ARTIFACT_ENV] = str(artifact_dir.resolve())
    if workers > 1:
        if store.backend == "memory":
            raise typer.BadParameter("each worker would hold its own events: use the SQLite "
                                     "store with several workers", param_hint="--memory-store")
        # Events and PUT/DELETE /items go through the shared SQLite file, which every worker
        # checks before answering; the artifact's vectors are shared memory maps.
        typer.echo(f"{workers} workers share {store.path}; POST /admin/reload reaches only "
                   "the worker that answers it.")
    base = f"http://{host}:{port}"
    typer.echo(f"serving {artifact_dir} at {base}  (docs: {base}/docs)\n"
               f"  curl '{base}/users/{example_user}/recommendations?k=5'\n"
               f"  curl -X POST {base}/events -H 'content-type: application/json' "
               f"-d '{{\"events\":[{{\"user_id\":\"{example_user}\",\"item_id\":\"{example_item}\","
               f"\"event\":\"view\"}}]}}'\n"
               f"  curl {base}/items/{example_item}/similar?k=5\n"
               f"  curl -X POST {base}/search -H 'content-type: application/json' "
               "-d '{\"query\":\"a gift for a dad who hikes\",\"k\":5}'")
    # httptools + uvloop: h11 stalls keep-alive requests by tens of milliseconds here.
    uvicorn.run("shelflm.serving.api:app_from_env", factory=True, host=host, port=port,
                workers=workers, http="httptools", loop="uvloop", log_level="warning",
                access_log=False)


if __name__ == "__main__":  # `python -m shelflm.commands.serve`, without the other commands
    typer.run(serve)
