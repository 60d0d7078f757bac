"""`shelflm assist`: talk to the shopping assistant in a terminal (`chat`), and tune an
artifact's query encoder on a shop's (query, item) pairs (`fit`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from shelflm.data.errors import DataError
from shelflm.data.loaders import common, reading
from shelflm.serving.config import ServingConfig, StoreConfig

app = typer.Typer(help="The shopping assistant: ask for products in words; tune how it "
                  "reads questions.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Attach the assist command group."""
    root.add_typer(app, name="assist")


def _artifact(path: Path, hint: str) -> Path:
    if not (path / "model.safetensors").is_file() and not (path / "ensemble.json").is_file():
        raise typer.BadParameter(f"{path}: not a shelflm artifact", param_hint=hint)
    return path


@app.command("chat")
def chat(
    artifact: Path = typer.Argument(..., help="The artifact to ask."),
    message: list[str] = typer.Option([], "--message", "-m", help="A turn to send instead of "
                                      "reading lines from the terminal (repeatable: one "
                                      "conversation)."),
    user: str | None = typer.Option(None, help="Ask as this shopper (their stored events "
                                    "personalise the answers)."),
    events_db: Path | None = typer.Option(None, help="The SQLite event store a server "
                                          "writes (for --user); default: none, in memory."),
    item: str | None = typer.Option(None, help="The product the first question is about."),
    k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="Products per answer."),
) -> None:
    """Talk to the assistant: each line is a turn of one conversation ('hiking boots under
    80', 'cheaper', 'not that brand'); an empty line or Ctrl-D ends."""
    # Deferred: loading an artifact imports torch (`shelflm --help` must not).
    from shelflm.serving.assist import AssistQuery
    from shelflm.serving.engine import Engine
    from shelflm.serving.errors import RequestError

    store = StoreConfig("sqlite", events_db) if events_db else StoreConfig("memory")
    engine = Engine.from_artifact(_artifact(artifact, "ARTIFACT"),
                                  replace(ServingConfig(), store=store))
    console, conversation = Console(), None
    for text in message or _lines():
        try:
            answer = engine.assistant.turn(AssistQuery(text, conversation, user,
                                                       item_id=None if conversation else item,
                                                       k=k))
        except RequestError as err:
            console.print(f"[red]{err.field}: {err.message}[/red]")
            continue
        conversation = answer.conversation_id
        _show(console, answer)


def _lines():
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            return
        if not line:
            return
        yield line


def _show(console: Console, answer) -> None:
    """One answer as a table, with what was understood and the note."""
    seen = answer.understood
    bounds = [f"{name} {seen[name]:g}" for name in ("min_price", "max_price")
              if seen[name] is not None]
    console.print(f"[bold]turn {answer.turn}[/bold]: {' / '.join(seen['wishes']) or '-'}"
                  f"{'  (' + ', '.join(bounds) + ')' if bounds else ''}")
    table = Table(show_header=True, header_style="bold")
    for column in ("#", "product", "price", "why"):
        table.add_column(column)
    for n, item in enumerate(answer.items, 1):
        price = "" if item.price is None else f"{item.price:.2f}"
        table.add_row(str(n), item.title or item.item_id, price, "; ".join(item.reasons))
    console.print(table)
    if answer.note:
        console.print(f"[yellow]{answer.note}[/yellow]")


def read_pairs(path: Path) -> pd.DataFrame:
    """A pairs file: `query` and `item_id` columns (CSV or TSV), blank queries refused."""
    frame = common.read_table(path, sep=reading.sniff_separator(path),
                              required=["query", "item_id"])
    frame = frame.astype({"query": "string", "item_id": "string"})
    blank = frame["query"].fillna("").str.strip() == ""
    if blank.any():
        raise DataError(path, "empty query", line=int(blank.to_numpy().argmax()) + 2,
                        field="query")
    return frame


@app.command("fit")
def fit(
    pairs: Path = typer.Argument(..., help="CSV/TSV with columns query,item_id: a search log's "
                                 "clicked results, or intents annotated with their products."),
    artifact: Path = typer.Option(..., "--artifact", help="The artifact whose query encoder "
                                  "is tuned (written to ARTIFACT/query/)."),
    method: str = typer.Option("adaptor", help="adaptor | lora | adalora | top_layers."),
    epochs: int = typer.Option(30, min=1, help="Most epochs (the best held-out one is kept)."),
    lr: float = typer.Option(1e-4, min=1e-7, help="Learning rate (QueryTuningConfig.lr)."),
    seed: int = typer.Option(0, help="Seeds the held-out split and the training."),
) -> None:
    """Tune the assistant's query encoder contrastively on (query, item) pairs."""
    # Deferred like chat's.
    from shelflm.models.query_tower import QueryTower
    from shelflm.serving.runtime import load_artifact
    from shelflm.training.query_tuning import QueryTuningConfig, fit_query_tuner

    try:
        frame = read_pairs(pairs)
    except DataError as exc:
        raise typer.BadParameter(str(exc), param_hint="PAIRS") from exc
    model = load_artifact(_artifact(artifact, "--artifact"))
    rows = {item: row for row, item in enumerate(model.catalog.ids)}
    known = frame["item_id"].isin(rows.keys())
    if not known.any():
        raise typer.BadParameter("no item_id of the pairs is in the artifact's catalog",
                                 param_hint="PAIRS")
    typer.echo(f"{len(frame):,} pairs, {int((~known).sum()):,} with an item id the catalog "
               "does not hold (skipped)")
    pairs_ = [(q, rows[i]) for q, i in zip(frame["query"][known], frame["item_id"][known],
                                            strict=True)]
    config = QueryTuningConfig(method=method, epochs=epochs, lr=lr, seed=seed)
    result = fit_query_tuner(pairs_, model.text_vectors, config)
    report = {"method": method, "queries": result.queries, "pairs": result.pairs,
              "valid_recall_at_10": result.valid_recall, "best_epoch": result.best_epoch,
              "artifact_version": model.version}
    first, best = result.valid_recall[0], result.valid_recall[result.best_epoch]
    typer.echo(f"held-out recall@10: start {first:.3f} -> tuned {best:.3f} (epoch "
               f"{result.best_epoch})")
    if result.best_epoch == 0:
        typer.echo("no epoch did better on the held-out queries: nothing written, queries "
                   "stay the frozen model's")
        raise typer.Exit(1)
    typer.echo(f"written to {QueryTower(result.tuner, report).save(artifact)}")
