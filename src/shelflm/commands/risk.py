"""`shelflm risk`: fit an artifact's risk model, score a dataset's users to CSV, and list or
release the users a server quarantined (shelflm.models.risk, shelflm.serving.risk)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.commands.options import config_option, excluding, load_run_config
from shelflm.data.errors import DataError
from shelflm.data.loaders import load_dataset
from shelflm.models.risk_config import RiskConfig
from shelflm.serving.config import StoreConfig
from shelflm.serving.risk import RISK_DIR, Quarantine
from shelflm.settings import ARTIFACT_KEY

app = typer.Typer(help="Risk control: score shoppers, flag the risky, release false alarms.",
                  no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Attach the risk command group."""
    root.add_typer(app, name="risk")


def _artifact_option() -> Path:
    return typer.Option(..., "--artifact", help="The trained shelflm artifact whose behaviour "
                        "model the risk model reads.")


def _load(data: Path, hint: str = "DATA"):  # -> Dataset
    try:
        return load_dataset(data)
    except (DataError, ValueError) as exc:  # the message names the file, line and field
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


def _view(artifact: Path):  # -> (ServingModel, ModelView)
    if not (artifact / "model.safetensors").is_file():
        raise typer.BadParameter(f"{artifact}: not a shelflm artifact (no model.safetensors)",
                                 param_hint="--artifact")
    # Deferred: loading an artifact imports torch (`shelflm --help` must not).
    from shelflm.models.risk_signals import ModelView
    from shelflm.serving.runtime import load_artifact

    model = load_artifact(artifact)
    model.use_user_tower("onnx")  # as served: ~10x faster a call than PyTorch on one core
    return model, ModelView.of(model)


def fit_artifact_risk(artifact: Path, train: object, config: RiskConfig,
                      labels: object = None) -> Path:
    """Fit the risk model on `train`'s events (a Dataset) through `artifact`'s behaviour
    model and save it as artifact/risk; returns that folder."""
    # Deferred like _view.
    from shelflm.training.risk import fit_risk

    model, view = _view(artifact)
    risk = fit_risk(train.interactions.events, train.catalog, view, config, labels,
                    model.version)
    return risk.save(artifact / RISK_DIR)


def fit_new_artifact_risk(artifact: Path, train: object, config: RiskConfig) -> None:
    """After `shelflm train` or `demo` saved `artifact`: its risk model on the training
    events, or a message saying why there is none (too few shoppers to calibrate on)."""
    try:
        folder = fit_artifact_risk(artifact, train, config)
    except ValueError as exc:
        typer.echo(f"no risk model: {exc}", err=True)
        return
    typer.echo(f"risk model: {folder}")


@app.command("fit")
def fit(data: Path = typer.Argument(..., help="The shop's training events (any format)."),
        artifact: Path = _artifact_option(),
        config: Path | None = config_option("Run config for [risk]; default: ARTIFACT's run."),
        labels: Path | None = typer.Option(None, help="CSV of user_id,label (1 = bad, 0 = "
                                           "good): a supervised detector as well."),
        threshold: float | None = typer.Option(None, help="[risk.threshold]")) -> None:
    """Fit and calibrate ARTIFACT's risk model on DATA's shoppers (into ARTIFACT/risk)."""
    cfg = load_run_config(config or (artifact if _records_run(artifact) else None))
    try:
        risk = replace(cfg.risk, **({} if threshold is None else {"threshold": threshold}))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--threshold") from exc
    dataset = excluding(_load(data), cfg.data.exclude_users)
    try:
        folder = fit_artifact_risk(artifact, dataset, risk, _labels(labels))
    except ValueError as exc:  # too few users to calibrate on, labels of nobody in DATA
        raise typer.BadParameter(str(exc), param_hint="DATA") from exc
    typer.echo(f"risk model: {folder} (threshold {risk.threshold})")


def _records_run(artifact: Path) -> bool:
    """Whether the artifact's config.json records its run config (older ones do not)."""
    path = artifact / "config.json"
    return path.is_file() and ARTIFACT_KEY in json.loads(path.read_text())


def _labels(path: Path | None):  # -> pd.Series | None
    if path is None:
        return None
    # Deferred: pandas is only needed with labels.
    import pandas as pd

    table = pd.read_csv(path, dtype={"user_id": str})
    if not {"user_id", "label"} <= set(table.columns) or not table["label"].isin([0, 1]).all():
        raise typer.BadParameter(f"{path}: needs columns user_id and label (0 or 1)",
                                 param_hint="--labels")
    return table.set_index("user_id")["label"].astype(int)


@app.command("score")
def score(data: Path = typer.Argument(..., help="Events of the users to score (any format)."),
          artifact: Path = _artifact_option(),
          out: Path = typer.Option(Path("risk.csv"), help="CSV to write."),
          threshold: float | None = typer.Option(None, help="Flag at or above this "
                                                 "(default: the risk model's).")) -> None:
    """Score every user of DATA with ARTIFACT's risk model; write user_id, score, flagged,
    status, events and reasons to a CSV, riskiest first."""
    folder = artifact / RISK_DIR
    if not (folder / "risk.json").is_file():
        raise typer.BadParameter(f"{artifact}: has no risk model; fit one with `shelflm risk "
                                 "fit DATA --artifact ARTIFACT`", param_hint="--artifact")
    # Deferred like _view.
    from shelflm.models.risk import RiskModel, score_users

    _, view = _view(artifact)
    scores = score_users(RiskModel.load(folder), _load(data).interactions.events, view,
                         threshold)
    scores.sort(key=lambda s: -1.0 if s.score is None else -s.score)
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "score", "flagged", "status", "events", "reasons"])
        for s in scores:
            w.writerow([s.user_id, "" if s.score is None else s.score, s.flagged, s.status,
                        s.events, "; ".join(r["text"] for r in s.reasons)])
    flagged = sum(s.flagged for s in scores)
    typer.echo(f"{len(scores):,} users scored, {flagged:,} flagged: {out}")


def _store(events_db: Path):  # -> EventStore
    if not events_db.is_file():
        raise typer.BadParameter(f"{events_db}: no such event store", param_hint="--events-db")
    # Deferred: the store is only needed by these two commands.
    from shelflm.serving.store import make_store

    return make_store(StoreConfig(path=events_db))


def _events_db() -> Path:
    return typer.Option(..., help="The servers' SQLite event store.")


@app.command("list")
def list_quarantined(events_db: Path = _events_db()) -> None:
    """Print the quarantined users as CSV (user_id, score, reasons)."""
    store = _store(events_db)
    q = Quarantine()
    q.follow(store)
    w = csv.writer(typer.get_text_stream("stdout"))
    w.writerow(["user_id", "score", "reasons"])
    for c in q.users.values():
        w.writerow([c.user_id, c.score, "; ".join(r["text"] for r in json.loads(c.reasons
                                                                                 or "[]"))])
    store.close()


@app.command("release")
def release(user: str = typer.Argument(..., help="The user to release."),
            events_db: Path = _events_db()) -> None:
    """Release a quarantined user (a false alarm): every server counts their kept events
    again at its next request, and they are not quarantined automatically any more."""
    # Deferred like _store.
    from shelflm.serving.store import RiskChange

    store = _store(events_db)
    try:
        if not store.user_events(user, 1):
            raise typer.BadParameter(f"unknown user id {user!r} (no stored events)",
                                     param_hint="USER")
        q = Quarantine()
        q.follow(store)
        was = user in q.users
        store.log_risk([RiskChange(user, "released")])
    finally:
        store.close()
    typer.echo(f"released {user}" + ("" if was else " (was not quarantined; it will not be)"))
