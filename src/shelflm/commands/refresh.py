"""`shelflm refresh` and `shelflm rollback`: the nearline loop beside the servers (never
inside a request worker). It reads the serving store's new events, updates the live
artifact on them (commands/refresh_cycle.py), and swaps the candidate in through the
servers' own POST /admin/reload only when it is not worse than the live model on the
freshest events; every version stays in the models directory for rollback.

Its state is MODELS_DIR/refresh.json (the store mark it read up to, the live version, every
decision); each decision is also logged and appended to MODELS_DIR/refresh_log.jsonl.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import typer

from shelflm.serving import versions
from shelflm.serving.config import StoreConfig
from shelflm.serving.versions import STATE

log = logging.getLogger("shelflm.refresh")


def register(app: typer.Typer) -> None:
    """Attach the refresh and rollback commands."""
    app.command("refresh")(refresh)
    app.command("rollback")(rollback)


def _url_option() -> str:
    return typer.Option("http://127.0.0.1:8000", help="The server whose POST /admin/reload "
                        "swaps a version in (every worker follows).")


def _key_option() -> str | None:
    return typer.Option(None, envvar="SHELFLM_API_KEY", help="Its write key (X-API-Key).")


def refresh(
    models_dir: Path = typer.Argument(..., help="Folder of the model versions (the servers' "
                                      "models_dir); the live one and the candidates live here."),
    artifact: str | None = typer.Option(None, help="The live version (a folder in MODELS_DIR) "
                                        "at the first run; later runs read refresh.json."),
    events_db: Path = typer.Option(..., help="The servers' SQLite event store."),
    min_events: int = typer.Option(1000, min=1, help="Refresh once this many new events are "
                                   "stored."),
    every: float = typer.Option(600.0, min=1.0, help="Seconds between looks at the store."),
    once: bool = typer.Option(False, help="Look once (refresh if due) and exit."),
    tolerance: float = typer.Option(0.0, min=0.0, help="Accept a candidate this much below "
                                    "the live NDCG@10."),
    epochs: int | None = typer.Option(None, min=1, help="Most epochs per update."),
    lr: float | None = typer.Option(None, min=0.0, help="Learning rate of the updates "
                                    "(default: the live run's; a small fresh window may "
                                    "need a lower one to move the model at all)."),
    from_now: bool = typer.Option(False, help="At the first run, take only events stored "
                                  "from now on (the live version was trained on the rest)."),
    nice: int = typer.Option(19, min=0, max=19, help="Added to this process's nice value: "
                             "on a machine it shares with servers, requests come first "
                             "(0: no change)."),
    threads: int = typer.Option(1, min=1, help="Torch threads of the updates (the cores "
                                "left to the servers are the rest)."),
    url: str = _url_option(),
    api_key: str | None = _key_option(),
) -> None:
    """Update the live model on new events and swap it in when it is not worse; repeat."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state = _state(models_dir, artifact)
    _yield_to_servers(nice, threads)
    # Deferred: the cycle trains (torch), and `shelflm --help` must not load it.
    from shelflm.commands.refresh_cycle import RefreshPlan, refresh_once
    from shelflm.serving.store import make_store

    store = make_store(StoreConfig(path=events_db))
    if from_now and not state["history"] and not state["mark"]:
        state["mark"] = store.popularity_snapshot()[0]
        versions.write_state(models_dir, state)  # a restart must not move the start again
    try:
        while True:
            version = f"v{len(state['history']) + 2:04d}"
            plan = RefreshPlan(models_dir / state["live"], models_dir / version, state["mark"],
                               min_events, tolerance=tolerance, epochs=epochs, lr=lr)
            try:
                record = refresh_once(store, plan)
            except Exception as exc:  # a failed refresh leaves the live model serving
                log.exception("refresh: the update of %s failed", plan.live)
                record = {"decision": "failed", "error": f"{type(exc).__name__}: {exc}",
                          "mark": state["mark"], "accept": False}
            if record["decision"] != "wait":
                _act(models_dir, state, record, version, url, api_key)
            log.info("refresh: %s", json.dumps(record))
            if once:
                return
            time.sleep(every)
    finally:
        store.close()


def _act(models_dir: Path, state: dict, record: dict, version: str, url: str,
         api_key: str | None) -> None:
    """Swap an accepted candidate in, move the mark, record the decision."""
    if record["accept"]:
        record["swap"] = _reload(url, api_key, version)
        if "error" not in record["swap"]:  # else the old one still serves
            state["previous"], state["live"] = state["live"], version
    state["mark"] = record["mark"]
    versions.record(models_dir, state, {**record, "version": version})


def _yield_to_servers(nice: int, threads: int) -> None:
    """Lower this process's priority by `nice` and train on `threads` torch threads."""
    if nice:
        os.nice(nice)
    # Deferred like the cycle: `shelflm --help` must not load torch.
    import torch

    torch.set_num_threads(threads)


def rollback(
    models_dir: Path = typer.Argument(..., help="Folder of the model versions."),
    url: str = _url_option(),
    api_key: str | None = _key_option(),
) -> None:
    """Serve the version before the live one again (the one the last accepted refresh
    replaced)."""
    state = _state(models_dir, None)
    if not state.get("previous"):
        raise typer.BadParameter(f"{models_dir / STATE}: no earlier version to go back to",
                                 param_hint="MODELS_DIR")
    swap = _reload(url, api_key, state["previous"])
    if "error" in swap:
        raise typer.BadParameter(f"{url}: the reload failed ({swap['error']}); "
                                 f"{state['live']} still serves", param_hint="--url")
    state["live"], state["previous"] = state["previous"], state["live"]
    versions.record(models_dir, state,
                    {"decision": "rollback", "live": state["live"], "swap": swap})
    typer.echo(json.dumps({"live": state["live"], **swap}))


def _state(models_dir: Path, artifact: str | None) -> dict:
    """refresh.json, or a first state serving `artifact`."""
    state = versions.read_state(models_dir)
    if state is not None:
        return state
    if artifact is None or not (models_dir / artifact / "config.json").is_file():
        raise typer.BadParameter(f"no {STATE} in {models_dir} yet: name the live version "
                                 "(a folder in it) with --artifact", param_hint="--artifact")
    return versions.first_state(artifact)


def _reload(url: str, api_key: str | None, version: str) -> dict:
    """POST /admin/reload {"artifact_dir": version}; the server's answer, or why it failed."""
    request = urllib.request.Request(
        url.rstrip("/") + "/admin/reload", json.dumps({"artifact_dir": version}).encode(),
        {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})})
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:  # noqa: S310 (given URL)
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.error("refresh: reload of %s at %s failed: %s", version, url, exc)
        return {"error": str(exc)}
