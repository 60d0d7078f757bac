"""Fit several registered models on one split and compare them under the same protocol.

`compare_models` is what `shelflm compare` and `shelflm demo` run: each named model is built
from the run's ShelfConfig (`training.registry`), classic baselines are tuned on validation
NDCG@10 over their grids so our model faces strong ones, and every model is scored by
`evaluation.protocol.split_metrics`. The table (Markdown, JSON), a bar chart and each
neural model's learning curves are written to one folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from shelflm.evaluation.plots import plot_learning_curves, plot_metric_bars
from shelflm.evaluation.protocol import Recommender, split_metrics
from shelflm.evaluation.report import write_report
from shelflm.models.baselines.tuning import TunedRecommender
from shelflm.training.registry import build_model, check_model_names

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split
    from shelflm.settings import ShelfConfig

TUNING_VALID_CASES = 3000  # validation cases a baseline's grid point is judged on
COLUMNS = ["hr@10", "ndcg@10", "mrr", "coverage@10", "train_seconds"]
COLD_COLUMNS = ["cold_ndcg@10", "warm_ndcg@10"]


@dataclass
class Comparison:
    """The metrics and fitted models by name, the table's columns, and the files written."""

    results: dict[str, dict[str, float]]
    fitted: dict[str, Recommender]
    columns: list[str]
    paths: dict[str, Path]  # "markdown", "json" (the table) and "chart"


def fit_and_evaluate(rec: Recommender, split: Split) -> dict[str, float]:
    """Fit `rec` on the split, then its test metrics; train_seconds counts both."""
    started = time.perf_counter()
    rec.fit(split)
    metrics = split_metrics(rec, split)
    metrics["train_seconds"] = time.perf_counter() - started
    return metrics


def _prepare(name: str, dataset: Dataset, config: ShelfConfig, out: Path,
             tune: bool) -> Recommender:
    """The named model, its epoch log under `out`; a classic one wrapped to tune its grid."""
    training = replace(config.training, log_path=str(out / f"{name}_log.jsonl"))
    rec = build_model(name, dataset, replace(config, training=training))
    grid = getattr(rec, "grid", None)
    if tune and grid:
        rec = TunedRecommender(type(rec), grid, name=name, max_valid_cases=TUNING_VALID_CASES,
                               seed=config.training.seed)
    return rec


def compare_models(dataset: Dataset, split: Split, names: list[str], config: ShelfConfig,
                   out: Path, tune: bool = True) -> Comparison:
    """Fit and evaluate each named model on one split; write the table and charts to `out`.

    Every model takes its settings from `config` (neural ones: [text], [encoder], [tuning],
    [model], [training], whose time_budget_s caps each one's training); unknown names are
    refused before anything is trained.
    """
    check_model_names(names)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    fitted: dict[str, Recommender] = {}
    for name in names:
        rec = _prepare(name, dataset, config, out, tune)
        results[name] = fit_and_evaluate(rec, split)
        fitted[name] = rec
    notes = (f"{dataset.name}, {config.data.split} split, full-catalog ranking, seed "
             f"{config.training.seed}; train_seconds on this machine.")
    columns = COLUMNS + [k for k in COLD_COLUMNS if k in next(iter(results.values()))]
    paths = write_report(results, out, "compare", f"{dataset.name}: model comparison", notes,
                         columns)
    paths["chart"] = plot_metric_bars(results, out / "compare.png")
    for name in results:
        log = out / f"{name}_log.jsonl"
        if log.is_file() and log.stat().st_size:
            plot_learning_curves(log, out / f"{name}_curves.png", title=f"{name}: learning curves")
    return Comparison(results, fitted, columns, paths)
