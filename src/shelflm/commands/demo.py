"""`shelflm demo`: the main job on the embedded default, end to end, with no server to install.

Generates the synthetic demo shop and prints its statistics, trains our model on a short
budget (`--serve-budget`), saves the artifact, loads the shop's events into the embedded event
store and serves the model over HTTP with a fresh random API key until Ctrl-C. The model
comparison (our model retrained and the baselines, each on `--budget`) runs as
`shelflm compare` in a background process once the server answers, and writes its report
when done; with `--no-serve` it runs in the foreground instead.

Files, under `--out` (default .shelflm/demo): data/ (the shop, project format), artifact/
(with serving.toml naming the event store, so `shelflm serve ARTIFACT` serves this shop's
events again), events.sqlite, run.toml (the comparison's run config), report/ (compare.md,
.json, .png, compare.log).
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import replace
from pathlib import Path

import typer

from shelflm.commands.background import BackgroundCommand, run_foreground
from shelflm.commands.data import print_stats
from shelflm.commands.options import config_option, load_run_config
from shelflm.commands.risk import fit_new_artifact_risk
from shelflm.commands.serve import ARTIFACT_SERVING_FILE
from shelflm.commands.serve import serve as run_server
from shelflm.data.project_format import write_project_dataset
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop
from shelflm.serving.config import StoreConfig
from shelflm.serving.store import Event, make_store
from shelflm.settings import ShelfConfig, artifact_record

# The demo's own defaults, laid under --config: a short training, capped per neural model.
DEMO_DEFAULTS = {"training": {"epochs": 20, "time_budget_s": 120.0}}
SERVE_BUDGET_S = 30.0  # our served model's training: a serving shop within minutes


def register(app: typer.Typer) -> None:
    """Attach the demo command."""
    app.command("demo")(demo)


def demo(
    users: int = typer.Option(3000, min=10, help="Synthetic shoppers."),
    items: int = typer.Option(3000, min=10, help="Synthetic products."),
    seed: int | None = typer.Option(None, help="Random seed of the shop, the split and the "
                                    "training [training.seed; default 0]."),
    epochs: int | None = typer.Option(None, min=1, help="Most training epochs (early "
                                      "stopping) [training.epochs; demo default 20]."),
    budget: float | None = typer.Option(None, min=1, help="Training seconds per neural model "
                                        "in the comparison [training.time_budget_s; demo "
                                        "default 120]."),
    serve_budget: float = typer.Option(SERVE_BUDGET_S, min=1, help="Training seconds of "
                                       "the served model (trained before serving)."),
    out: Path = typer.Option(Path(".shelflm/demo"), help="Folder for data, report, artifact, "
                             "event store."),
    serve: bool = typer.Option(True, help="Serve the trained model at the end (the "
                               "comparison then runs in the background)."),
    compare: bool = typer.Option(True, help="Compare our model with the baselines."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on (127.0.0.1)."),
    config: Path | None = config_option(
        "Run config (TOML file or artifact directory): [text], [encoder], [tuning], [model], "
        "[training], the [data] split and a file's [serving]; flags given here override it."),
) -> None:
    """Generate the demo shop, train and serve our model; compare it with the baselines."""
    cfg = load_run_config(config, base=DEMO_DEFAULTS, seed=seed, epochs=epochs,
                          time_budget_s=budget)
    typer.secho("1/4 synthetic demo shop", bold=True)
    dataset = generate_shop(SyntheticShopConfig(num_users=users, num_items=items,
                                                seed=cfg.training.seed))
    print_stats(dataset)
    data = write_project_dataset(dataset, out / "data")
    # Recorded in the artifact and run.toml: absolute, so both work from any directory.
    cfg = replace(cfg, data=replace(cfg.data, path=Path(data).resolve()))

    typer.secho(f"2/4 train our model ({serve_budget:g} s budget, {cfg.data.split} split)",
                bold=True)
    artifact = _train_ours(dataset, cfg, serve_budget, out / "artifact")

    typer.secho("3/4 load the shop's events into the event store", bold=True)
    events_db = _load_events(dataset, out / "events.sqlite")
    _record_store(artifact, events_db)

    comparison = _comparison(cfg, out) if compare else None
    if comparison is not None and not serve:
        typer.secho("4/4 compare the models", bold=True)
        run_foreground(comparison)
    _print_files(out, compare)
    if serve:
        # An artifact directory as --config records no serving settings of its own to reuse.
        serving = config if config is not None and config.is_file() else None
        background = BackgroundCommand(comparison, f"http://127.0.0.1:{port}/health/ready",
                                       out / "report" / "compare.md") if comparison else None
        _serve(artifact, events_db, port, background, serving,
               str(dataset.user_ids[0]), str(dataset.item_ids[0]))


def _serve(artifact: Path, events_db: Path, port: int, background: BackgroundCommand | None,
           serving: Path | None, user: str, item: str) -> None:
    """Serve the artifact with a fresh API key; start the comparison once it answers."""
    key = secrets.token_urlsafe(24)
    typer.secho(f"4/4 serve (API key of this run: {key})", bold=True)
    typer.echo(f"serve again later: shelflm serve {artifact} --api-key {key}")
    if background is not None:
        background.start()
    typer.echo(f"try user {user!r} and item {item!r}; Ctrl-C stops the server")
    try:
        run_server(artifact, host="127.0.0.1", port=port, workers=1, api_key=[key],
                   open_writes=False, keys_for_reads=False, events_db=events_db,
                   memory_store=False, cors_origin=[], loader=None, catalog=None, config=serving,
                   example_user=user, example_item=item, print_key=True)
    finally:
        if background is not None:
            background.stop()


def _train_ours(dataset: object, cfg: ShelfConfig, budget_s: float, out: Path) -> Path:
    """Fit our model on the split within `budget_s` seconds and save it as an artifact."""
    # Deferred to the run itself: training and artifacts load torch (see shelflm.commands).
    from shelflm.models.artifact import save_artifact
    from shelflm.training.compare import fit_and_evaluate
    from shelflm.training.registry import build_model

    cfg = replace(cfg, training=replace(cfg.training, time_budget_s=budget_s))
    rec = build_model("shelflm", dataset, cfg)
    split = cfg.data.splitter().split(dataset)
    metrics = fit_and_evaluate(rec, split)  # test metrics for the dashboard's model card
    save_artifact(rec, out, dataset.catalog, rec.text_settings, records=artifact_record(cfg))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(f"artifact: {out}")
    fit_new_artifact_risk(out, split.train, cfg.risk)
    return out


def _comparison(cfg: ShelfConfig, out: Path) -> list[str]:
    """The `shelflm compare` command line of the demo's run (its config in run.toml)."""
    run = out / "run.toml"
    run.write_text(cfg.to_toml())
    return [sys.executable, "-m", "shelflm.cli", "compare", "--config", str(run),
            "--out", str(out / "report")]


def _record_store(artifact: Path, events_db: Path) -> None:
    """Name the demo's event store in the artifact's serving.toml, for `shelflm serve`."""
    path = json.dumps(str(events_db.resolve()))  # a JSON string is a TOML basic string
    (artifact / ARTIFACT_SERVING_FILE).write_text(
        f"# Written by `shelflm demo`: the event store `shelflm serve` uses for this artifact\n"
        f"[store]\npath = {path}\n")


def _print_files(out: Path, compare: bool) -> None:
    """Where the demo wrote what."""
    report = out / "report"
    when = "(written when the comparison finishes)" if compare else "(--no-compare: none)"
    typer.echo(f"files:\n  data      {out / 'data'}\n  artifact  {out / 'artifact'}\n"
               f"  events    {out / 'events.sqlite'} (named in "
               f"{out / 'artifact' / ARTIFACT_SERVING_FILE})\n"
               f"  report    {report / 'compare.md'} {when}")


def _load_events(dataset: object, path: Path) -> Path:
    """A fresh SQLite event store holding every event of the dataset."""
    path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    store = make_store(StoreConfig(backend="sqlite", path=path))
    ev = dataset.interactions.events
    store.append([
        Event(u, i, e, int(t), float(v))
        for u, i, e, t, v in zip(ev["user_id"], ev["item_id"], ev["event"].astype(str),
                                 ev["timestamp"], ev["value"], strict=True)
    ])
    store.close()
    typer.echo(f"{len(ev):,} events in {path}")
    return path
