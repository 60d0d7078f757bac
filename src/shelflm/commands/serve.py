"""`shelflm serve ARTIFACT_DIR`: the HTTP API over a trained artifact (uvicorn, httptools).

Closed by default: with no API key the server answers reads and refuses writes and admin
routes; `--open` lets anyone on this machine write, and only on a loopback address. The
store is `--events-db`, else `[store] path`, else `events.sqlite` in the data directory
(`[store] data_dir`, $SHELFLM_DATA or ~/.local/share/shelflm), never the working directory.
`--config` defaults to `ARTIFACT_DIR/serving.toml` when the artifact has one (`shelflm demo`
writes it, naming the demo's event store). Before starting, serve prints who may write and
which store it serves.

The server (uvicorn, the engine, and with them torch) is imported only once the arguments
and the config have been checked and a server really starts, so `shelflm serve --help` and
argument errors stay fast and torch-free (a test checks).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.commands.ranker import is_ranker
from shelflm.serving.config import ApiConfig, ServingConfig, StoreConfig
from shelflm.settings import load_serving_config

ARTIFACT_SERVING_FILE = "serving.toml"  # an artifact's own serving config (the demo's store)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    artifact_dir: Path = typer.Argument(..., help="Artifact directory to serve."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
    api_key: list[str] = typer.Option(
        [], envvar="SHELFLM_API_KEY", help="Accepted X-API-Key (repeatable); with none, "
        "writes are refused unless --open."),
    open_writes: bool = typer.Option(
        False, "--open", help="No key: anyone on this machine may write and reload "
        "(only with a loopback --host) [api.open_writes]."),
    keys_for_reads: bool = typer.Option(False, help="Require the API key for reads too."),
    events_db: Path | None = typer.Option(
        None, help="SQLite event store file [store.path; default: events.sqlite in the data "
        "directory, or the store named by ARTIFACT_DIR/serving.toml]."),
    memory_store: bool = typer.Option(False, help="Keep events in memory only (not durable)."),
    cors_origin: list[str] = typer.Option([], help="Allowed CORS origin (repeatable)."),
    loader: str | None = typer.Option(None, help="'module:function' loading the artifact."),
    catalog: Path | None = typer.Option(
        None, help="Serve this shop's catalog (CSV/TSV/Parquet with item_id, title, ... or a "
        "dataset folder) instead of the artifact's: a new shop from its catalog alone; "
        "items the model was not trained with are scored from their text [catalog]."),
    config: Path | None = typer.Option(
        None, help="TOML file: a serving-only one ([index], [store], [rules], [api]) or a "
        "whole-run one (`shelflm config init`), whose [serving] table is used "
        "[default: ARTIFACT_DIR/serving.toml when it exists]."),
    example_user: str = typer.Option("USER", hidden=True, help="User id in the printed curls."),
    example_item: str = typer.Option("ITEM", hidden=True, help="Item id in the printed curls."),
    print_key: bool = typer.Option(False, hidden=True, help="Show the key in the curls."),
) -> None:
    """Serve recommendations over HTTP until Ctrl-C."""
    if not artifact_dir.is_dir():
        raise typer.BadParameter(f"{artifact_dir} is not a directory", param_hint="ARTIFACT_DIR")
    if config is None and (artifact_dir / ARTIFACT_SERVING_FILE).is_file():
        config = artifact_dir / ARTIFACT_SERVING_FILE
        typer.echo(f"config: {config}")
    cfg = load_serving_config(config)  # TOML (optional) + SHELFLM_[SERVING__]<SECTION>__<FIELD>
    cfg = _with_flags(cfg, api_key, open_writes, keys_for_reads, events_db, memory_store,
                      cors_origin, loader, catalog)
    check_serving(cfg, host, workers)
    cfg = replace(cfg, store=resolved_store(cfg.store))
    typer.echo(access_line(cfg.api))
    typer.echo(store_line(cfg.store))
    if workers > 1:
        # Events and PUT/DELETE /items go through the shared SQLite file, which every worker
        # checks before answering; the artifact's vectors are shared memory maps.
        typer.echo(f"{workers} workers share {cfg.store.path}; POST /admin/reload reaches "
                   "every worker within a request or two.")
    key = cfg.api.api_keys[0] if print_key and cfg.api.api_keys else None
    _print_usage(artifact_dir, f"http://{host}:{port}", example_user, example_item,
                 _key_header(cfg.api, key))
    _run_server(cfg, artifact_dir, host, port, workers)


def _run_server(cfg: ServingConfig, artifact_dir: Path, host: str, port: int,
                workers: int) -> None:
    """Start uvicorn on the checked config and block until it stops."""
    # Imported here, not at the top: only a real server start pays for them (torch included).
    import uvicorn

    # The app module builds the engine, which loads torch: deferred for the same reason.
    from shelflm.serving.http.app import ARTIFACT_ENV, CONFIG_ENV, RELOAD_START_ENV
    from shelflm.serving.store import make_store

    # Worker processes rebuild the app from these, so one code path serves 1 or N workers.
    os.environ[CONFIG_ENV] = cfg.to_json()
    os.environ[ARTIFACT_ENV] = str(artifact_dir.resolve())
    # Read once here, not by each worker as it comes up: a reload recorded while a slow
    # worker still loads is one that worker must follow, not history.
    store = make_store(cfg.store)
    os.environ[RELOAD_START_ENV] = str(store.latest_reload()[0])
    store.close()
    # httptools + uvloop: h11 stalls keep-alive requests by tens of milliseconds here.
    # Idle keep-alive connections stay open 75 s, not uvicorn's 5 s: a client (or a load
    # balancer, which keeps them ~60 s) that reuses one just as the server closes it gets a
    # read error on a request that was never answered (seen once in the soak).
    uvicorn.run("shelflm.serving.http.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, http="httptools", loop="uvloop", log_level="warning",
                access_log=False, timeout_keep_alive=75)


def _with_flags(cfg: ServingConfig, api_key: list[str], open_writes: bool,
                keys_for_reads: bool, events_db: Path | None, memory_store: bool,
                cors_origin: list[str], loader: str | None,
                catalog: Path | None) -> ServingConfig:
    """The config with the flags that were given laid over it (flags win over the file)."""
    api = replace(cfg.api, api_keys=api_key or cfg.api.api_keys,
                  open_writes=open_writes or cfg.api.open_writes,
                  keys_for_reads=keys_for_reads or cfg.api.keys_for_reads,
                  cors_origins=cors_origin or cfg.api.cors_origins)
    store = replace(cfg.store, backend="memory") if memory_store else cfg.store
    if events_db is not None:
        store = replace(store, path=events_db)
    if catalog is not None and not catalog.exists():
        raise typer.BadParameter(f"{catalog}: no such file or folder", param_hint="--catalog")
    return replace(cfg, api=api, store=store, model_loader=loader or cfg.model_loader,
                   catalog=(catalog.resolve() if catalog else cfg.catalog))


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or a malformed address: not known to be loopback
        return False


def check_serving(cfg: ServingConfig, host: str, workers: int) -> None:
    """Refuse, before anything starts, settings that cannot work or would open writes."""
    if workers > 1 and cfg.store.backend == "memory":
        raise typer.BadParameter("each worker would hold its own events: use the SQLite "
                                 "store with several workers", param_hint="--memory-store")
    ranker = cfg.rerank.artifact
    if ranker is not None and not is_ranker(ranker):
        raise typer.BadParameter(f"{ranker}: not a ranker of `shelflm train --model "
                                 "cross-encoder`", param_hint="[rerank]")
    if not cfg.api.open_writes:
        return
    if cfg.api.api_keys:
        raise typer.BadParameter(
            f"{len(cfg.api.api_keys)} API key(s) are configured (--api-key, SHELFLM_API_KEY "
            "or [api] api_keys), so writes need X-API-Key anyway: drop --open ([api] "
            "open_writes) or the keys", param_hint="--open")
    if not is_loopback(host):
        raise typer.BadParameter(
            f"--host {host} is not a loopback address: open writes would let anyone who can "
            "reach it write and reload; use --host 127.0.0.1, or --api-key KEY instead",
            param_hint="--open")


def resolved_store(store: StoreConfig) -> StoreConfig:
    """The store with its SQLite path made explicit (so every worker opens the same file)."""
    if store.backend != "sqlite":
        return store
    return replace(store, path=store.sqlite_path())


def access_line(api: ApiConfig) -> str:
    """Who may write, as serve says it at start."""
    if api.api_keys:
        n = len(api.api_keys)
        reads = "; reads too" if api.keys_for_reads else ""
        return f"access: writes need X-API-Key ({n} key{'s' if n > 1 else ''}{reads})"
    if api.open_writes:
        return "access: OPEN: anyone on this machine can write and reload (loopback only)"
    return "access: read-only: no key configured; writes refused (pass --api-key or --open)"


def store_line(store: StoreConfig) -> str:
    """Which events the server starts with, as serve says it at start."""
    if store.backend == "memory":
        return "store: in memory, starting empty (events are lost when the server stops)"
    path = store.sqlite_path()
    if path.exists():
        return f"store: {path}"
    return (f"store: starting with an EMPTY store at {path} (new file; --events-db FILE "
            "serves an existing one)")


def _key_header(api: ApiConfig, key: str | None) -> str:
    """The X-API-Key part of the printed write curls."""
    if key is not None:
        return f" -H 'X-API-Key: {key}'"
    return " -H 'X-API-Key: <your key>'" if api.api_keys else ""


def _print_usage(artifact_dir: Path, base: str, user: str, item: str, key_header: str) -> None:
    typer.echo(f"serving {artifact_dir} at {base}  (dashboard: {base}/dashboard/, "
               f"docs: {base}/docs)\n"
               f"  curl '{base}/users/{user}/recommendations?k=5'\n"
               f"  curl -X POST {base}/events -H 'content-type: application/json'{key_header} "
               f"-d '{{\"events\":[{{\"user_id\":\"{user}\",\"item_id\":\"{item}\","
               f"\"event\":\"view\"}}]}}'\n"
               f"  curl {base}/items/{item}/similar?k=5\n"
               f"  curl -X POST {base}/search -H 'content-type: application/json' "
               "-d '{\"query\":\"a gift for a dad who hikes\",\"k\":5}'")


if __name__ == "__main__":  # `python -m shelflm.commands.serve`, without the other commands
    typer.run(serve)
