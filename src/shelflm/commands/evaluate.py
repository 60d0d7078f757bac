"""`shelflm evaluate`: score a saved artifact on the test cases of a dataset's split."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from shelflm.commands.options import config_option, load_data, load_run_config
from shelflm.commands.ranker import evaluate_ranker, is_ranker
from shelflm.evaluation.protocol import split_metrics
from shelflm.evaluation.served import ServedRecommender


def register(app: typer.Typer) -> None:
    """Attach the evaluate command."""
    app.command("evaluate")(evaluate)


def evaluate(
    artifact: Path = typer.Argument(..., help="Artifact directory written by `shelflm train`."),
    data: Path | None = typer.Argument(
        None, help="Dataset to score; default: [data] path. Its catalog may differ from "
                   "the artifact's (another shop: zero-shot): items the artifact was not "
                   "trained with are scored from their text alone."),
    config: Path | None = config_option(
        "Run config whose [data] section names the dataset and the split (default "
        "leave-one-out): a TOML file, or an artifact directory (its recorded run)."),
    retrieval: Path | None = typer.Option(
        None, help="For a cross-encoder ranker: the retrieval artifact whose top N it "
        "reranks (default: the one it was trained over)."),
    cases: int | None = typer.Option(
        None, min=1, help="For a cross-encoder ranker: score at most this many test cases "
        "(a seeded draw; each costs N pairs)."),
) -> None:
    """Score the test cases of DATA's split (leave-one-out by default) with a saved artifact;
    a cross-encoder ranker: retrieval alone and reranked, side by side."""
    cfg, dataset, split = load_data(load_run_config(config, data=data))
    if is_ranker(artifact):
        both = evaluate_ranker(artifact, dataset, split, retrieval, cases)
        typer.echo(json.dumps({name: {k: round(v, 4) for k, v in m.items()}
                               for name, m in both.items()}))
        return
    # Deferred: loading an artifact loads torch (see shelflm.commands).
    from shelflm.serving.runtime import load_artifact

    served = load_artifact(artifact)
    try:
        served = served.on_catalog(dataset.catalog)
    except ValueError as exc:  # an ID-only model cannot score items it was not trained with
        raise typer.BadParameter(f"{cfg.data.path}: its catalog differs from the artifact's "
                                 f"({artifact}): {exc}", param_hint="DATA") from exc
    metrics = split_metrics(ServedRecommender(served, f"artifact:{artifact.name}"), split)
    typer.echo(json.dumps({k: round(v, 4) for k, v in metrics.items()}))
