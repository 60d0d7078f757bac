"""`shelflm train`: fit one registered model on the configured split, save its artifact."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.commands.options import config_option, load_data, load_run_config, registered
from shelflm.commands.ranker import train_ranker
from shelflm.commands.risk import fit_new_artifact_risk
from shelflm.models.modality_config import parse_modality
from shelflm.settings import ShelfConfig, artifact_record

CROSS_ENCODER = "cross-encoder"
MODALITY_OPTION = typer.Option(
    None, "--modality", help="An extra item input fused by a learned gate, repeatable: "
    "NAME=vector:FILE (item id -> vector: .csv/.tsv, .npz with ids+vectors, .jsonl), "
    "NAME=text:FIELD (a column or attributes key, e.g. tags, encoded by the LM on its own) "
    "or NAME=numeric:FIELD,FIELD (e.g. price,rating; price as log1p) "
    "[model.items.modalities; default none].")


def register(app: typer.Typer) -> None:
    """Attach the train command."""
    app.command("train")(train)


def train(
    data: list[Path] | None = typer.Argument(
        None, help="Dataset file or folder (any supported format); default: [data] path. "
        "Several: one model for all those shops (each its own catalog and shoppers) "
        "[data.path, data.also]."),
    config: Path | None = config_option(),
    out: Path = typer.Option(Path("artifacts/model"), help="Artifact directory to write."),
    model: str = typer.Option("shelflm", help="A registered model name (shelflm is saved as "
                              "a serving artifact; others write metrics only), or "
                              "cross-encoder: a second stage over --retrieval [ranker]."),
    retrieval: Path | None = typer.Option(None, help="The artifact a cross-encoder reranks."),
    template: str | None = typer.Option(None, help="Item text preset (title/attributes/full) "
                                        "or a format string [text.template; default title]."),
    hidden: int | None = typer.Option(None, help="Width of item and user vectors "
                                      "[model.*.hidden; default 64]."),
    epochs: int | None = typer.Option(None, help="Most epochs, early stopping on valid "
                                      "NDCG@10 [training.epochs; default 200]."),
    cold: float | None = typer.Option(None, help="Share of items held out as cold; 0 = "
                                      "leave-one-out [data.split; default leave-one-out]."),
    seed: int | None = typer.Option(None, help="Random seed of the split and the training "
                                    "[training.seed, data.cold_start.seed; default 0]."),
    init_from: Path | None = typer.Option(
        None, help="Start from this artifact's user tower and text head (transfer from "
        "another shop) [training.init_from]."),
    train_only: str | None = typer.Option(
        None, help="'adaptor': train only the text head (and IDs), the user tower stays as "
        "initialised [training.train_only; default all]."),
    exclude_users: Path | None = typer.Option(
        None, help="CSV of users whose events are left out: `shelflm risk score` output (its "
        "flagged rows) or `shelflm risk list` [data.exclude_users]."),
    modality: list[str] | None = MODALITY_OPTION,
) -> None:
    """Train a model with early stopping, print test metrics, save the artifact directory.

    Settings come from the defaults, then --config, then SHELFLM_<SECTION>__<FIELD>
    environment variables, then the flags; the artifact's config.json records the result.
    """
    cfg = load_run_config(config, data=data[0] if data else None, also=(data or [])[1:],
                          template=template, hidden=hidden, epochs=epochs, cold=cold, seed=seed,
                          exclude_users=exclude_users)
    if model == CROSS_ENCODER:
        return train_ranker(*load_data(cfg), retrieval, out)
    spec = registered(model)
    # Deferred: they load torch (see shelflm.commands: `serve --help` must not).
    from shelflm.training.compare import fit_and_evaluate
    from shelflm.training.registry import build_model

    cfg, dataset, split = load_data(_with_flags(cfg, init_from, train_only, modality or []))
    out.mkdir(parents=True, exist_ok=True)
    # The log goes under --out unless the config names one; the recorded config keeps the
    # user's choice, so repeating a run from its artifact does not overwrite the old log.
    log = cfg.training.log_path or str(out / "train_log.jsonl")
    rec = build_model(model, dataset, replace(cfg, training=replace(cfg.training, log_path=log)))
    metrics = fit_and_evaluate(rec, split)
    _echo_trainable(rec)
    if spec.artifact:
        _save(rec, out, cfg, dataset, split)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(json.dumps({k: round(v, 4) for k, v in metrics.items()}))


def _save(rec: object, out: Path, cfg: ShelfConfig, dataset: object, split: object) -> None:
    """The artifact, with the exemplars `update` replays and the risk model of its shoppers."""
    # Deferred: they load torch (see shelflm.commands).
    from shelflm.models.artifact import save_artifact
    from shelflm.training.continual import dataset_exemplars

    save_artifact(rec, out, dataset.catalog, rec.text_settings, artifact_record(cfg),
                  exemplars=dataset_exemplars(dataset, cfg))
    fit_new_artifact_risk(out, split.train, cfg.risk)


def _echo_trainable(rec: object) -> None:
    trainable, total = getattr(rec, "trainable", (0, 0))
    if total:
        typer.echo(f"trainable weights: {trainable:,} of {total:,} "
                   f"({100 * trainable / total:.1f}%)")


def _with_flags(cfg: ShelfConfig, init_from: Path | None, train_only: str | None,
                modality: list[str]) -> ShelfConfig:
    """The flags that change sections read from the config: transfer and modalities."""
    if init_from is not None or train_only is not None:
        cfg = _with_transfer(cfg, init_from, train_only)
    return _with_modalities(cfg, modality)


def _with_modalities(cfg: ShelfConfig, specs: list[str]) -> ShelfConfig:
    """[model.items] modalities from the --modality flags (they replace the config's)."""
    if not specs:
        return cfg
    try:
        modalities = tuple(parse_modality(spec) for spec in specs)
        items = replace(cfg.model.items, modalities=modalities)
        return replace(cfg, model=replace(cfg.model, items=items))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--modality") from exc


def _with_transfer(cfg: ShelfConfig, init_from: Path | None,
                   train_only: str | None) -> ShelfConfig:
    """[training] init_from / train_only from the flags, checked before any data is read."""
    update: dict[str, object] = {}
    if init_from is not None:
        if not (init_from / "model.safetensors").is_file():
            raise typer.BadParameter(f"{init_from}: not a shelflm artifact (no "
                                     "model.safetensors)", param_hint="--init-from")
        update["init_from"] = str(init_from.resolve())
    if train_only is not None:
        update["train_only"] = train_only
    try:
        return replace(cfg, training=replace(cfg.training, **update))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--train-only") from exc
