"""`shelflm train`, `shelflm evaluate`, `shelflm compare`: fit, score and compare models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

if TYPE_CHECKING:
    from shelflm.settings import ShelfConfig

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
    """A fresh recommender by name, from the defaults plus these few settings."""
    from shelflm.settings import ShelfConfig

    config = _with_flags(ShelfConfig(), template=template, hidden=hidden, epochs=epochs,
                         seed=seed)
    training = replace(config.training, log_path=str(log) if log else None,
                       time_budget_s=time_budget_s)
    return build_recommender(name, dataset, replace(config, training=training))


def build_recommender(name: str, dataset: object, config: ShelfConfig) -> object:
    """A fresh recommender by name from a ShelfConfig (baselines take none of it)."""
    from shelflm.encoders.encode import encode
    from shelflm.models import baselines
    from shelflm.models.artifact import TextSettings
    from shelflm.models.shelf_model import ShelfRecommender, sasrec_id
    from shelflm.text.templates import render_catalog

    classic = {"popularity": baselines.Popularity, "itemknn": baselines.ItemKNN,
               "als": baselines.ALSRecommender, "ease": baselines.EASE}
    if name in classic:
        return classic[name]()
    if name == "sasrec-id":
        sequence = asdict(config.model.sequence)
        return sasrec_id(config.training, hidden=sequence.pop("hidden"), **sequence)
    if name != "shelflm":
        raise typer.BadParameter(f"unknown model {name!r}; choose from {MODELS}")
    # A user-given model directory is recorded absolute, so the artifact works from anywhere.
    settings = TextSettings(config.text.item_template().format, config.encoder.resolved())
    texts = list(render_catalog(dataset.catalog, config.text.item_template()))
    if config.tuning is not None:
        from shelflm.encoders.peft.registry import build_tuner

        with _threads(config.encoder.threads):
            tuner = build_tuner(config.tuning, texts)
        rec = ShelfRecommender(config.model, config.training, None, tuner=tuner)
    else:
        vectors = encode(texts, settings.encoder)  # sets (and restores) encoder.threads
        rec = ShelfRecommender(config.model, config.training, vectors)
    rec.text_settings = settings
    return rec


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """torch intra-op threads set to n (None: unchanged) while encoding, then restored."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _with_flags(config: ShelfConfig, data: Path | None = None, template: str | None = None,
                hidden: int | None = None, epochs: int | None = None,
                cold: float | None = None, seed: int | None = None) -> ShelfConfig:
    """`config` with the CLI flags that were given laid over it (flags win over the file)."""
    from shelflm.settings import TextConfig

    update: dict[str, object] = {}
    section: dict[str, object] = {}
    if data is not None:
        section["path"] = data.resolve()  # absolute: the artifact's record must work anywhere
    cold_start = config.data.cold_start
    if cold is not None:
        section["split"] = "cold-start" if cold else "leave-one-out"
        if cold:
            cold_start = replace(cold_start, cold_fraction=cold)
    if seed is not None:  # one seed for the cold-item draw and the training, as before
        cold_start = replace(cold_start, seed=seed)
        update["training"] = replace(config.training, seed=seed)
    update["data"] = replace(config.data, **section, cold_start=cold_start)
    if template is not None:
        update["text"] = TextConfig(template=template)
    if hidden is not None:
        update["model"] = replace(config.model, sequence=replace(config.model.sequence,
                                  hidden=hidden), items=replace(config.model.items, hidden=hidden))
    if epochs is not None:
        update["training"] = replace(update.get("training", config.training), epochs=epochs)
    return replace(config, **update)


def _metrics(rec: object, split: object) -> dict[str, float]:
    from shelflm.evaluation.protocol import evaluate_ranking, item_popularity

    out = evaluate_ranking(rec, split.test, popularity=item_popularity(split.train))
    if len(split.cold_items):
        out["cold_ndcg@10"] = evaluate_ranking(rec, split.test, subset="cold")["ndcg@10"]
        out["warm_ndcg@10"] = evaluate_ranking(rec, split.test, subset="warm")["ndcg@10"]
    return out


def train(
    data: Path | None = typer.Argument(
        None, help="Dataset file or folder (any supported format); default: [data] path."),
    config: Path | None = typer.Option(
        None, "--config", help="Run config: a TOML file (`shelflm config init`), or an "
        "artifact directory to repeat its run. Flags given here override it."),
    out: Path = typer.Option(Path("artifacts/model"), help="Artifact directory to write."),
    model: str = typer.Option("shelflm", help="shelflm or sasrec-id."),
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
) -> None:
    """Train a model with early stopping, print test metrics, save the artifact directory.

    Settings come from the defaults, then --config, then SHELFLM_<SECTION>__<FIELD>
    environment variables, then the flags; the artifact's config.json records the result.
    """
    from shelflm.data.loaders import load_dataset
    from shelflm.models.artifact import save_artifact
    from shelflm.settings import load_shelf_config, record_in_artifact

    try:
        cfg = _with_flags(load_shelf_config(config), data=data, template=template,
                          hidden=hidden, epochs=epochs, cold=cold, seed=seed)
    except ValueError as exc:  # ConfigError too: the message names the file/variable/field
        raise typer.BadParameter(str(exc), param_hint="--config or a flag") from exc
    if cfg.data.path is None:
        raise typer.BadParameter("no dataset: give DATA or [data] path in --config",
                                 param_hint="DATA")
    # Recorded in the artifact, so an absolute path: the run must repeat from any directory.
    cfg = replace(cfg, data=replace(cfg.data, path=cfg.data.path.resolve()))
    dataset = load_dataset(cfg.data.path, format=cfg.data.format)
    split = cfg.data.splitter().split(dataset)
    out.mkdir(parents=True, exist_ok=True)
    # The log goes under --out unless the config names one; the recorded config keeps the
    # user's choice, so repeating a run from its artifact does not overwrite the old log.
    log = cfg.training.log_path or str(out / "train_log.jsonl")
    rec = build_recommender(model, dataset, replace(
        cfg, training=replace(cfg.training, log_path=log)))
    started = time.perf_counter()
    rec.fit(split)
    metrics = _metrics(rec, split)
    metrics["train_seconds"] = time.perf_counter() - started
    if model == "shelflm":
        save_artifact(rec, out, dataset.catalog, rec.text_settings)
        record_in_artifact(cfg, out)
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
