"""`shelflm compare`: fit several registered models on one split; one table, one chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markdown import Markdown

from shelflm.commands.options import (
    config_option,
    load_data,
    load_run_config,
    model_names_option,
    registered,
)
from shelflm.evaluation.report import markdown_table

if TYPE_CHECKING:
    from shelflm.training.compare import Comparison


def register(app: typer.Typer) -> None:
    """Attach the compare command."""
    app.command("compare")(compare)


def print_comparison(comparison: Comparison) -> None:
    """The comparison table on the terminal, and where its files are."""
    Console().print(Markdown(markdown_table(comparison.results, comparison.columns)))
    typer.echo(f"wrote {comparison.paths['markdown']} and {comparison.paths['chart']}")


def compare(
    data: Path | None = typer.Argument(
        None, help="Dataset file or folder; default: [data] path."),
    config: Path | None = config_option(),
    models: str | None = typer.Option(
        None, help="Comma-separated model names [default: every registered model]."),
    out: Path = typer.Option(Path("runs/compare"), help="Folder for the table and chart."),
    epochs: int | None = typer.Option(None, help="Most epochs per trained model "
                                      "[training.epochs; default 200]."),
    cold: float | None = typer.Option(None, help="Share of items held out as cold; 0 = "
                                      "leave-one-out [data.split; default leave-one-out]."),
    seed: int | None = typer.Option(None, help="Random seed of the split, the training and "
                                    "the baselines' tuning [training.seed; default 0]."),
    tune: bool = typer.Option(True, help="Tune baselines on validation NDCG@10."),
) -> None:
    """Train and evaluate several models on one split; one table (JSON/Markdown), one chart.

    Every model takes its settings from --config ([text], [encoder], [tuning], [model],
    [training]) with these flags laid over it.
    """
    cfg = load_run_config(config, data=data, epochs=epochs, cold=cold, seed=seed)
    names = model_names_option(models)
    for name in names or ():
        registered(name, "--models")  # an unknown name fails before any training
    # Deferred to the run itself: training loads torch (see shelflm.commands).
    from shelflm.training.compare import compare_models
    from shelflm.training.registry import model_names

    cfg, dataset, split = load_data(cfg)
    print_comparison(compare_models(dataset, split, names or list(model_names()), cfg, out,
                                    tune))
