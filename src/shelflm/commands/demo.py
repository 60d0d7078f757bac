"""`shelflm demo`: the main job on the embedded default, end to end, with no server to install.

Generates the synthetic demo shop, prints its statistics, trains our model and the baselines
on the configured split (leave-one-out by default), prints the comparison table, saves the
artifact, loads the shop's events into the embedded event store, and serves the model over
HTTP until Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shelflm.commands.compare import print_comparison
from shelflm.commands.data import print_stats
from shelflm.commands.options import config_option, load_run_config
from shelflm.commands.serve import serve as run_server
from shelflm.data.project_format import write_project_dataset
from shelflm.data.synthetic import SyntheticShopConfig, generate_shop
from shelflm.serving.config import StoreConfig
from shelflm.serving.store import Event, make_store

# The demo's own defaults, laid under --config: a short training, capped per neural model.
DEMO_DEFAULTS = {"training": {"epochs": 20, "time_budget_s": 120.0}}


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
                                        "[training.time_budget_s; demo default 120]."),
    out: Path = typer.Option(Path(".shelflm/demo"), help="Folder for data, report, artifact."),
    serve: bool = typer.Option(True, help="Serve the trained model at the end."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on (127.0.0.1)."),
    config: Path | None = config_option(
        "Run config (TOML file or artifact directory): [text], [encoder], [tuning], [model], "
        "[training], the [data] split and a file's [serving]; flags given here override it."),
) -> None:
    """Generate the demo shop, train and compare models, then serve ours over HTTP."""
    cfg = load_run_config(config, base=DEMO_DEFAULTS, seed=seed, epochs=epochs,
                          time_budget_s=budget)
    # Deferred to the run itself: training and artifacts load torch (see shelflm.commands).
    from shelflm.models.artifact import save_artifact
    from shelflm.training.compare import compare_models
    from shelflm.training.registry import model_names

    typer.secho("1/4 synthetic demo shop", bold=True)
    shop = SyntheticShopConfig(num_users=users, num_items=items, seed=cfg.training.seed)
    dataset = generate_shop(shop)
    print_stats(dataset)
    write_project_dataset(dataset, out / "data")

    typer.secho(f"2/4 train and compare ({cfg.data.split}, full-catalog ranking)", bold=True)
    split = cfg.data.splitter().split(dataset)
    comparison = compare_models(dataset, split, list(model_names()), cfg, out / "report")
    print_comparison(comparison)

    typer.secho("3/4 save the artifact", bold=True)
    ours = comparison.fitted["shelflm"]
    save_artifact(ours, out / "artifact", dataset.catalog, ours.text_settings)
    typer.echo(f"artifact: {out / 'artifact'}")

    typer.secho("4/4 load the shop's events into the event store", bold=True)
    events_db = _load_events(dataset, out / "events.sqlite")
    if serve:
        user = str(dataset.user_ids[0])
        item = str(dataset.item_ids[0])
        typer.echo(f"try user {user!r} and item {item!r}; Ctrl-C stops the server")
        # An artifact directory as --config records no serving settings of its own to reuse.
        serving = config if config is not None and config.is_file() else None
        run_server(out / "artifact", host="127.0.0.1", port=port, workers=1, api_key=[],
                   keys_for_reads=False, events_db=events_db, memory_store=False,
                   cors_origin=[], loader=None, config=serving, example_user=user,
                   example_item=item)


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
