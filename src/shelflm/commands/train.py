"""`shelflm train`, `shelflm evaluate`, `shelflm compare`: fit, score and compare models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import typer

MODELS = ("shelflm", "sasrec-id", "popularity", "itemknn", "als", "ease")


def register(app: typer.Typer) -> None:
    """Attach the train / evaluate / compare commands."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)


def _split(data: Path, cold: float, seed: int) -> tuple[object, object]:
    from shelflm.data.loaders import load_dataset
    from shelflm.data.splits import ColdStartItemSplit, LeaveOneOutSplit

    dataset = load_dataset(data)
    splitter = ColdStartItemSplit(cold_fraction=cold, seed=seed) if cold else LeaveOneOutSplit()
    return dataset, splitter.split(dataset)


def _build(name: str, dataset: object, template: str, hidden: int, epochs: int, seed: int,
           log: Path | None, time_budget_s: float | None = None) -> object:
    """A fresh recommender by name (popularity needs no text and no training config)."""
    from shelflm.models import baselines
    from shelflm.models.artifact import TextSettings, lm_text_vectors
    from shelflm.models.item_tower import ItemTowerConfig
    from shelflm.models.sequence import SequenceEncoderConfig
    from shelflm.models.shelf_model import ShelfModelConfig, ShelfRecommender, sasrec_id
    from shelflm.text.templates import ItemTemplate, get_template, render_catalog
    from shelflm.training.trainer import TrainConfig

    train_config = TrainConfig(epochs=epochs, seed=seed, log_path=str(log) if log else None,
                               time_budget_s=time_budget_s)
    classic = {"popularity": baselines.Popularity, "itemknn": baselines.ItemKNN,
               "als": baselines.ALSRecommender, "ease": baselines.EASE}
    if name in classic:
        return classic[name]()
    if name == "sasrec-id":
        return sasrec_id(train_config, hidden=hidden)
    if name != "shelflm":
        raise typer.BadParameter(f"unknown model {name!r}; choose from {MODELS}")
    fmt = get_template(template).format if "{" not in template else template
    texts = render_catalog(dataset.catalog, ItemTemplate(name="cli", format=fmt))
    vectors = lm_text_vectors(list(texts), TextSettings(item_format=fmt))
    config = ShelfModelConfig(SequenceEncoderConfig(hidden=hidden), ItemTowerConfig(hidden=hidden))
    rec = ShelfRecommender(config, train_config, vectors)
    rec.text_settings = TextSettings(item_format=fmt)
    return rec


def _metrics(rec: object, split: object) -> dict[str, float]:
    from shelflm.evaluation.protocol import evaluate_ranking, item_popularity

    out = evaluate_ranking(rec, split.test, popularity=item_popularity(split.train))
    if len(split.cold_items):
        out["cold_ndcg@10"] = evaluate_ranking(rec, split.test, subset="cold")["ndcg@10"]
        out["warm_ndcg@10"] = evaluate_ranking(rec, split.test, subset="warm")["ndcg@10"]
    return out


def train(
    data: Path = typer.Argument(..., help="Dataset file or folder (any supported format)."),
    out: Path = typer.Option(Path("artifacts/model"), help="Artifact directory to write."),
    model: str = typer.Option("shelflm", help="shelflm or sasrec-id."),
    template: str = typer.Option("title", help="Item text preset (title/attributes/full) "
                                 "or a format string."),
    hidden: int = typer.Option(64, help="Width of item and user vectors."),
    epochs: int = typer.Option(200, help="Most epochs (early stopping on valid NDCG@10)."),
    cold: float = typer.Option(0.0, help="Share of items held out as cold (0: leave-one-out)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Train a model with early stopping, print test metrics, save the artifact directory."""
    from shelflm.models.artifact import save_artifact

    dataset, split = _split(data, cold, seed)
    out.mkdir(parents=True, exist_ok=True)
    rec = _build(model, dataset, template, hidden, epochs, seed, out / "train_log.jsonl")
    started = time.perf_counter()
    rec.fit(split)
    metrics = _metrics(rec, split)
    metrics["train_seconds"] = time.perf_counter() - started
    if model == "shelflm":
        save_artifact(rec, out, dataset.catalog, rec.text_settings)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(json.dumps({k: round(v, 4) for k, v in metrics.items()}))


def evaluate(
    artifact: Path = typer.Argument(..., help="Artifact directory written by `shelflm train`."),
    data: Path = typer.Argument(..., help="Dataset with the artifact's catalog."),
) -> None:
    """Score the leave-one-out test cases of DATA with a saved artifact."""
    from shelflm.models.artifact import load_artifact

    served = load_artifact(artifact)
    dataset, split = _split(data, 0.0, 0)
    if list(dataset.item_ids) != list(served.catalog.ids):
        raise typer.BadParameter(f"{data}: its catalog differs from the artifact's ({artifact})")

    class Served:
        name = f"artifact:{artifact.name}"

        def score(self, users: np.ndarray, histories: list, events: list) -> np.ndarray:
            users_vec = np.stack([served.user_vector(served.history_vectors[np.asarray(h)],
                                                     np.asarray(e))
                                  for h, e in zip(histories, events, strict=True)])
            return users_vec @ served.item_vectors.T

    typer.echo(json.dumps({k: round(v, 4) for k, v in _metrics(Served(), split).items()}))


def compare_models(dataset: object, split: object, names: list[str], out: Path, epochs: int,
                   seed: int, tune: bool = True, time_budget_s: float | None = None,
                   ) -> tuple[dict[str, dict[str, float]], dict]:
    """Fit and evaluate each named model on one split; write the table and chart to `out`.

    Baselines are tuned on validation NDCG@10 (`TunedRecommender` over their grids) so our
    model faces strong ones; `time_budget_s` caps each neural model's training. Returns the
    metrics and the fitted models by name.
    """
    from rich.console import Console
    from rich.markdown import Markdown

    from shelflm.evaluation.plots import plot_learning_curves, plot_metric_bars
    from shelflm.evaluation.report import markdown_table, write_report
    from shelflm.models.baselines.tuning import TunedRecommender

    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    fitted: dict[str, object] = {}
    for name in names:
        rec = _build(name, dataset, "title", 64, epochs, seed, out / f"{name}_log.jsonl",
                     time_budget_s)
        grid = getattr(rec, "grid", None)
        if tune and grid and name != "shelflm":
            rec = TunedRecommender(type(rec), grid, name=name, max_valid_cases=3000, seed=seed)
        started = time.perf_counter()
        rec.fit(split)
        results[name] = _metrics(rec, split)
        results[name]["train_seconds"] = time.perf_counter() - started
        fitted[name] = rec
    notes = (f"{dataset.name}, {'cold-start' if len(split.cold_items) else 'leave-one-out'} "
             f"split, full-catalog ranking, seed {seed}; train_seconds on this machine.")
    columns = ["hr@10", "ndcg@10", "mrr", "coverage@10", "train_seconds"]
    columns += [k for k in ("cold_ndcg@10", "warm_ndcg@10") if k in next(iter(results.values()))]
    paths = write_report(results, out, "compare", f"{dataset.name}: model comparison", notes,
                         columns)
    plot_metric_bars(results, out / "compare.png")
    for name in results:
        log = out / f"{name}_log.jsonl"
        if log.is_file() and log.stat().st_size:
            plot_learning_curves(log, out / f"{name}_curves.png", title=f"{name}: learning curves")
    Console().print(Markdown(markdown_table(results, columns)))
    typer.echo(f"wrote {paths['markdown']} and {out / 'compare.png'}")
    return results, fitted


def compare(
    data: Path = typer.Argument(..., help="Dataset file or folder."),
    models: str = typer.Option(",".join(MODELS), help="Comma-separated model names."),
    out: Path = typer.Option(Path("runs/compare"), help="Folder for the table and chart."),
    epochs: int = typer.Option(200, help="Most epochs per trained model."),
    cold: float = typer.Option(0.0, help="Share of items held out as cold."),
    seed: int = typer.Option(0, help="Random seed."),
    tune: bool = typer.Option(True, help="Tune baselines on validation NDCG@10."),
) -> None:
    """Train and evaluate several models on one split; one table (JSON/Markdown), one chart."""
    dataset, split = _split(data, cold, seed)
    names = [m.strip() for m in models.split(",") if m.strip()]
    compare_models(dataset, split, names, out, epochs, seed, tune)
