"""`shelflm ensemble`: artifacts served as one model (shelflm.serving.ensemble), fitted on
validation: a weighted blend of several (the previous and the new version, two designs), or
the cold-item ensemble, the trained items scored by one and the items without training
events (new products) by another, with the new items' exposure fitted. Writes an ensemble
directory that `serve` and `evaluate` take like an artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from shelflm.commands.options import config_option, load_data, load_run_config
from shelflm.evaluation.exposure import DEFAULT_OFFSETS, DEFAULT_WEIGHTS

if TYPE_CHECKING:
    from shelflm.data.splits import EvalCases


def register(app: typer.Typer) -> None:
    """Attach the ensemble command."""
    app.command("ensemble")(ensemble)


def _numbers(text: str, hint: str) -> tuple[float, ...]:
    try:
        return tuple(float(b) for b in text.split(",") if b.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"not a number: {exc}", param_hint=hint) from exc


def _per_member(text_weights: str, n: int) -> tuple[float, ...]:
    """--text-weights: one value per member, or none (0 for all)."""
    blends = _numbers(text_weights, "--text-weights") or (0.0,) * n
    if len(blends) != n:
        raise typer.BadParameter(f"{len(blends)} values for {n} members",
                                 param_hint="--text-weights")
    return blends


def ensemble(
    artifacts: list[Path] = typer.Argument(..., help="Artifacts to blend (two or more), or "
                                           "with --new-items the one scoring the items "
                                           "with training events."),
    new_items: Path | None = typer.Option(None, "--new-items", help="Artifact scoring the "
                                          "items without any (a text-only model: "
                                          "[model.items] use_id = false)."),
    out: Path = typer.Option(..., help="Ensemble directory to write."),
    data: Path | None = typer.Option(None, help="Dataset whose validation cases fit it; "
                                     "default: the first artifact's."),
    config: Path | None = config_option(
        "Run config naming the dataset and the split (--new-items needs cold items: "
        "--cold); default: the first artifact's recorded run."),
    text_weights: str = typer.Option("", help="LM similarity blended into each member, "
                                     "comma-separated in order (new items last); default 0."),
    ratio: float = typer.Option(0.5, min=0.0, help="--new-items: cold / warm validation "
                                "NDCG@10 an offset must reach to be picked."),
    offsets: str = typer.Option(",".join(f"{b:g}" for b in DEFAULT_OFFSETS),
                                help="--new-items: offsets tried, comma-separated."),
    weights: str = typer.Option(",".join(f"{w:g}" for w in DEFAULT_WEIGHTS),
                                help="Blend: weights tried per member, comma-separated."),
    max_valid: int = typer.Option(3000, min=1, help="Validation cases used to fit."),
) -> None:
    """Fit on validation, write the ensemble directory, print its test metrics."""
    paths = [*artifacts, *([new_items] if new_items else [])]
    if (new_items is None) == (len(artifacts) == 1):
        raise typer.BadParameter("give two or more artifacts to blend, or one with "
                                 "--new-items", param_hint="ARTIFACTS")
    if out.resolve() in {p.resolve() for p in paths}:
        raise typer.BadParameter("must differ from the member artifacts", param_hint="--out")
    blends = _per_member(text_weights, len(paths))
    grid, weight_grid = _numbers(offsets, "--offsets"), _numbers(weights, "--weights")
    cfg, dataset, split = load_data(load_run_config(config or artifacts[0], data=data))
    # Deferred: loading artifacts loads torch (see shelflm.commands).
    from shelflm.evaluation.protocol import item_popularity, split_metrics
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.ensemble import load_ensemble, write_ensemble
    from shelflm.serving.runtime import load_artifact
    from shelflm.settings import artifact_record
    from shelflm.training.trainer import subsample_cases

    try:
        models = [load_artifact(p).on_catalog(dataset.catalog) for p in paths]
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="ARTIFACTS or --new-items") from exc
    counts = item_popularity(split.train)
    trained = {str(i) for i, n in zip(dataset.catalog.ids, counts, strict=True) if n > 0}
    valid = subsample_cases(split.valid, max_valid, 0)
    if new_items:
        members, kept, fit = _fit_cold(models, blends, trained, valid, grid, ratio)
    else:
        members, kept, fit = _fit_blend(models, blends, trained, valid, weight_grid)
    write_ensemble(out, [paths[k] for k in kept], members, trained,
                   {**artifact_record(cfg), "fit": fit})
    served = load_ensemble(out, load_artifact).on_catalog(dataset.catalog)
    metrics = split_metrics(ServedRecommender(served, f"ensemble:{out.name}"), split)
    typer.echo(json.dumps({"fit": {k: v for k, v in fit.items() if not k.startswith("valid")},
                           **{k: round(v, 4) for k, v in metrics.items()}}))


def _fit_cold(models: list, blends: tuple[float, ...], trained: set[str], valid: EvalCases,
              grid: tuple[float, ...], ratio: float) -> tuple[list, list[int], dict]:
    """The trained / untrained pair, the new items' offset fitted."""
    # Deferred with the command's other torch-loading imports.
    from shelflm.evaluation.exposure import fit_offset
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.ensemble import Ensemble, Member, blended

    members = [Member("members/trained", "trained", text_weight=blends[0]),
               Member("members/new-items", "untrained", text_weight=blends[1])]
    marked = ~np.isin(np.asarray(models[0].catalog.ids, dtype=object), list(trained))
    try:
        fitting = Ensemble(blended(models, members), members, trained)
        offset, by_offset = fit_offset(ServedRecommender(fitting, "ensemble"), marked, valid,
                                       grid, ratio)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config or DATA") from exc
    members[1] = Member(members[1].path, "untrained", offset=offset, text_weight=blends[1])
    return members, [0, 1], {"kind": "new items", "ratio": ratio, "offset": offset,
                             "valid_cases": len(valid.targets),
                             "valid_ndcg@10_by_offset": by_offset}


def _fit_blend(models: list, blends: tuple[float, ...], trained: set[str], valid: EvalCases,
               grid: tuple[float, ...]) -> tuple[list, list[int], dict]:
    """Every member on every item, weights fitted; a member at weight 0 is left out."""
    # Deferred with the command's other torch-loading imports.
    from shelflm.evaluation.exposure import fit_weights
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.ensemble import Ensemble, Member, blended

    alone = [Member(f"members/m{k}", text_weight=b) for k, b in enumerate(blends)]
    scorers = [ServedRecommender(Ensemble([m], [spec], trained), spec.path)
               for m, spec in zip(blended(models, alone), alone, strict=True)]
    weights, by_weight = fit_weights(scorers, valid, grid)
    kept = [k for k, w in enumerate(weights) if w > 0]
    members = [Member(f"members/m{k}", weight=weights[k], text_weight=blends[k]) for k in kept]
    return members, kept, {"kind": "blend", "weights": weights,
                           "valid_cases": len(valid.targets),
                           "valid_ndcg@10_by_weight": by_weight}
