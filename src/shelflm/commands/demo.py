"""`shelflm demo`: the main job on the embedded default, end to end, with no server to install.

Generates the synthetic demo shop, prints its statistics, trains our model and the baselines
on a leave-one-out split, prints the comparison table, saves the artifact, loads the shop's
events into the embedded event store, and serves the model over HTTP until Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path

import typer

DEMO_MODELS = ["popularity", "itemknn", "als", "sasrec-id", "shelflm"]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    users: int = typer.Option(3000, min=10, help="Synthetic shoppers."),
    items: int = typer.Option(3000, min=10, help="Synthetic products."),
    seed: int = typer.Option(0, help="Random seed of the shop, the split and the training."),
    epochs: int = typer.Option(20, min=1, help="Most training epochs (early stopping)."),
    budget: float = typer.Option(120.0, min=1, help="Training seconds per neural model."),
    out: Path = typer.Option(Path(".shelflm/demo"), help="Folder for data, report, artifact."),
    serve: bool = typer.Option(True, help="Serve the trained model at the end."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to serve on (127.0.0.1)."),
) -> None:
    """Generate the demo shop, train and compare models, then serve ours over HTTP."""
    from shelflm.commands.data import print_stats
    from shelflm.commands.train import compare_models
    from shelflm.data.project_format import write_project_dataset
    from shelflm.data.splits import LeaveOneOutSplit
    from shelflm.data.synthetic import SyntheticShopConfig, generate_shop
    from shelflm.models.artifact import save_artifact

    typer.secho("1/4 synthetic demo shop", bold=True)
    dataset = generate_shop(SyntheticShopConfig(num_users=users, num_items=items, seed=seed))
    print_stats(dataset)
    write_project_dataset(dataset, out / "data")

    typer.secho("2/4 train and compare (leave-one-out, full-catalog ranking)", bold=True)
    split = LeaveOneOutSplit().split(dataset)
    _, fitted = compare_models(dataset, split, DEMO_MODELS, out / "report", epochs, seed,
                               time_budget_s=budget)

    typer.secho("3/4 save the artifact", bold=True)
    ours = fitted["shelflm"]
    save_artifact(ours, out / "artifact", dataset.catalog, ours.text_settings)
    typer.echo(f"artifact: {out / 'artifact'}")

    typer.secho("4/4 load the shop's events into the event store", bold=True)
    events_db = _load_events(dataset, out / "events.sqlite")
    if serve:
        from shelflm.commands.serve import serve as run_server

        user = str(dataset.user_ids[0])
        item = str(dataset.item_ids[0])
        typer.echo(f"try user {user!r} and item {item!r}; Ctrl-C stops the server")
        run_server(out / "artifact", host="127.0.0.1", port=port, workers=1, api_key=[],
                   keys_for_reads=False, events_db=events_db, memory_store=False,
                   cors_origin=[], loader=None, config=None, example_user=user,
                   example_item=item)


def _load_events(dataset: object, path: Path) -> Path:
    """A fresh SQLite event store holding every event of the dataset."""
    from shelflm.serving.config import StoreConfig
    from shelflm.serving.store import Event, make_store

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
