"""`shelflm update`: continue an artifact's training on new events (training/continual.py),
with replay of its exemplars and distillation towards it; the new artifact records its
lineage (parent, data window, metrics)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.commands.options import config_option, excluding, load_run_config
from shelflm.data.errors import DataError
from shelflm.data.loaders import load_dataset
from shelflm.settings import ShelfConfig, artifact_record


def register(app: typer.Typer) -> None:
    """Attach the update command."""
    app.command("update")(update)


def update(
    artifact: Path = typer.Argument(..., help="Artifact to continue from."),
    new_data: Path = typer.Argument(..., help="Dataset of the new events (any supported "
                                    "format); its catalog adds or changes items."),
    out: Path = typer.Option(..., help="Artifact directory to write (not ARTIFACT)."),
    config: Path | None = config_option(
        "Run config; default: ARTIFACT's recorded run (same model, text and training)."),
    epochs: int | None = typer.Option(None, help="Most epochs [training.epochs]."),
    distill: float = typer.Option(1.0, min=0.0, help="Weight of the KL towards ARTIFACT's "
                                  "next-item distribution (0: none) [training.distill_weight]."),
    replay: bool = typer.Option(True, help="Train on ARTIFACT's exemplars too."),
    exclude_users: Path | None = typer.Option(
        None, help="CSV of users whose events are left out (`shelflm risk score` output: its "
        "flagged rows; `shelflm risk list`) [data.exclude_users]."),
) -> None:
    """Train from ARTIFACT on NEW_DATA's events plus its exemplars, print test metrics (on
    the update's split: the new events and the replayed ones), save the new artifact."""
    if out.resolve() == artifact.resolve():
        raise typer.BadParameter("must differ from ARTIFACT (kept for rollback)",
                                 param_hint="--out")
    if not (artifact / "model.safetensors").is_file():
        raise typer.BadParameter(f"{artifact}: not a shelflm artifact (no model.safetensors)",
                                 param_hint="ARTIFACT")
    cfg = load_run_config(config or artifact, data=new_data, epochs=epochs)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, training=replace(cfg.training, init_from=str(artifact.resolve()),
                                        init_items=True, distill_weight=distill,
                                        log_path=str(out / "train_log.jsonl")))
    try:
        new = load_dataset(cfg.data.path, format=cfg.data.format)
    except (DataError, ValueError) as exc:  # the message names the file, line and field
        raise typer.BadParameter(str(exc), param_hint="NEW_DATA") from exc
    new = excluding(new, exclude_users or cfg.data.exclude_users)
    # Deferred to the run itself: training and artifacts load torch (see shelflm.commands).
    from shelflm.models.artifact import read_artifact, save_artifact
    from shelflm.training.continual import dataset_exemplars, fit_update

    try:
        rec, dataset, split, metrics = fit_update(artifact, new, cfg, replay)
    except ValueError as exc:  # the data does not fit the artifact: the message says how
        raise typer.BadParameter(str(exc), param_hint="NEW_DATA") from exc
    parent = read_artifact(artifact)
    lineage = _lineage(artifact, parent.version, parent.config, new, dataset, cfg, metrics)
    save_artifact(rec, out, dataset.catalog, rec.text_settings,
                  {**artifact_record(cfg), "lineage": lineage},
                  exemplars=dataset_exemplars(dataset, cfg))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(json.dumps({k: round(v, 4) for k, v in metrics.items()}))


def _lineage(artifact: Path, version: str, parent_config: dict, new: object, dataset: object,
             cfg: ShelfConfig, metrics: dict) -> dict:
    """Where the new artifact comes from: its parent (and theirs), the new events' window,
    what was replayed and the update's test metrics."""
    # Deferred with the command's other torch-loading imports.
    from shelflm.training.continual import lineage_record

    events = new.interactions.events
    window = {"path": str(cfg.data.path), "events": len(events),
              "first_timestamp": int(events["timestamp"].min()),
              "last_timestamp": int(events["timestamp"].max()),
              "users": int(events["user_id"].nunique()),
              "items_added": int(len(dataset.catalog) - parent_config["num_items"])}
    return lineage_record(artifact, version, parent_config, window, metrics,
                          replayed_events=int(len(dataset.interactions) - len(events)),
                          distill_weight=cfg.training.distill_weight)
