"""`shelflm ensemble`: two artifacts served as one, the trained items scored by one and the
items without training events (new products) by the other, with the exposure of new items
fitted on validation. Writes an ensemble directory that `serve` and `evaluate` take like an
artifact (shelflm.serving.ensemble)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shelflm.commands.options import config_option, load_data, load_run_config
from shelflm.evaluation.exposure import DEFAULT_OFFSETS

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split


def register(app: typer.Typer) -> None:
    """Attach the ensemble command."""
    app.command("ensemble")(ensemble)


def ensemble(
    artifact: Path = typer.Argument(..., help="Artifact scoring the items with training "
                                    "events (shelflm's text + ID model)."),
    new_items: Path = typer.Option(..., "--new-items", help="Artifact scoring the items "
                                   "without any (a text-only model: --config with "
                                   "[model.items] use_id = false)."),
    out: Path = typer.Option(..., help="Ensemble directory to write."),
    data: Path | None = typer.Option(None, help="Dataset whose validation cases fit the "
                                     "offset; default: the one ARTIFACT was trained on."),
    config: Path | None = config_option(
        "Run config naming the dataset and the split (it needs cold items: --cold); "
        "default: ARTIFACT's recorded run."),
    text_weights: tuple[float, float] = typer.Option(
        (0.0, 0.0), help="LM similarity blended into each member (ARTIFACT, --new-items); "
        "0: none."),
    ratio: float = typer.Option(0.5, min=0.0, help="Cold / warm validation NDCG@10 an offset "
                                "must reach to be picked."),
    offsets: str = typer.Option(",".join(f"{b:g}" for b in DEFAULT_OFFSETS),
                                help="Offsets tried, comma-separated."),
    max_valid: int = typer.Option(3000, min=1, help="Validation cases used to fit."),
) -> None:
    """Fit the exposure of new items on validation, write the ensemble, print test metrics."""
    try:
        grid = tuple(float(b) for b in offsets.split(",") if b.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"not a number: {exc}", param_hint="--offsets") from exc
    if out.resolve() in (artifact.resolve(), new_items.resolve()):
        raise typer.BadParameter("must differ from the member artifacts", param_hint="--out")
    cfg, dataset, split = load_data(load_run_config(config or artifact, data=data))
    # Deferred: loading artifacts loads torch (see shelflm.commands).
    from shelflm.evaluation.protocol import split_metrics
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.ensemble import load_ensemble, write_ensemble
    from shelflm.serving.runtime import load_artifact
    from shelflm.settings import artifact_record

    members, trained, fit = _fit(artifact, new_items, dataset, split, text_weights,
                                 grid, ratio, max_valid)
    write_ensemble(out, [artifact, new_items], members, trained,
                   {**artifact_record(cfg), "fit": fit})
    served = load_ensemble(out, load_artifact).on_catalog(dataset.catalog)
    metrics = split_metrics(ServedRecommender(served, f"ensemble:{out.name}"), split)
    typer.echo(json.dumps({"offset": fit["offset"],
                           **{k: round(v, 4) for k, v in metrics.items()}}))


def _fit(artifact: Path, new_items: Path, dataset: Dataset, split: Split,
         text_weights: tuple[float, float], grid: tuple[float, ...], ratio: float,
         max_valid: int) -> tuple[list, set[str], dict]:
    """The members (new items' offset fitted), the trained item ids and the fit's record."""
    # Deferred with the command's other torch-loading imports.
    from shelflm.evaluation.exposure import fit_offset
    from shelflm.evaluation.protocol import item_popularity
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.ensemble import Ensemble, Member
    from shelflm.serving.runtime import load_artifact
    from shelflm.training.trainer import subsample_cases

    counts = item_popularity(split.train)
    trained = {str(i) for i, n in zip(dataset.catalog.ids, counts, strict=True) if n > 0}
    members = [Member("members/trained", "trained", text_weight=text_weights[0]),
               Member("members/new-items", "untrained", text_weight=text_weights[1])]
    try:
        models = [load_artifact(path).on_catalog(dataset.catalog)
                  for path in (artifact, new_items)]
        fitting = Ensemble(models, members, trained)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="ARTIFACT or --new-items") from exc
    marked = counts == 0
    valid = subsample_cases(split.valid, max_valid, 0)
    try:
        offset, by_offset = fit_offset(ServedRecommender(fitting, "ensemble"), marked, valid,
                                       grid, ratio)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config or DATA") from exc
    members[1] = Member(members[1].path, "untrained", offset=offset,
                        text_weight=text_weights[1])
    return members, trained, {"ratio": ratio, "offset": offset,
                              "valid_cases": len(valid.targets),
                              "valid_ndcg@10_by_offset": by_offset}
