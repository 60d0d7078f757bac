"""`shelflm data stats|convert`: inspect a dataset in any supported format, or convert it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shelflm.commands.options import config_option, load_run_config
from shelflm.data.errors import DataError
from shelflm.data.loaders import ColumnMapping, load_dataset
from shelflm.data.project_format import write_project_dataset
from shelflm.data.schema import Dataset
from shelflm.data.stats import dataset_stats

data_app = typer.Typer(help="Inspect and convert datasets.", no_args_is_help=True)

FORMAT_HELP = "Format name (default: detected). One of: project, movielens-100k, movielens, " \
    "sequences, amazon-bundle, amazon-reviews, recbole, online-retail, table."
CONFIG_HELP = "Run config (TOML file or artifact directory) whose [data] path and format " \
    "are used where SOURCE / --format are not given."
MAP_HELP = "Column mapping for the 'table' format, FIELD=COLUMN, repeatable " \
    "(e.g. --map user_id=customer --map item_id=sku)."


def register(app: typer.Typer) -> None:
    """Attach the `data` command group."""
    app.add_typer(data_app, name="data")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_stats(dataset: Dataset, console: Console | None = None) -> None:
    """Print a dataset's statistics as rich tables."""
    console = console or Console()
    s = dataset_stats(dataset)
    src = s["source"]
    counts = Table(title=f"dataset {s['name']}", title_justify="left")
    counts.add_column("")
    if src is not None:
        counts.add_column("in source (before drops)", justify="right")
    counts.add_column("loaded", justify="right")

    def row(label: str, source_value: Any, loaded: Any) -> None:
        cells = [_fmt(source_value) if source_value is not None else "-"] if src else []
        counts.add_row(label, *cells, _fmt(loaded) if loaded is not None else "-")

    row("users", src and src["users"], s["users"])
    row("items with interactions", src and src["items"], s["items_with_interactions"])
    row("catalog items", None, s["items"])
    row("interactions", src and src["rows"], s["interactions"])
    for key, value in (src or {}).items():
        if key not in ("rows", "users", "items"):
            row(key, value, None)
    counts.add_row("density (distinct user-item pairs)", *([""] if src else []),
                   f"{s['density']:.4%}")
    console.print(counts)

    details = Table(show_header=False, box=None, padding=(0, 2))
    seq = s["sequence_length"]
    if seq:
        details.add_row("events per user", f"min {seq['min']:,}  median {seq['median']:g}  "
                        f"mean {seq['mean']:.1f}  p90 {seq['p90']:g}  max {seq['max']:,}")
    span = s["time_span"]
    details.add_row("time span", f"{span['first']} .. {span['last']} UTC ({span['days']:.1f} days)"
                    if span else "no clock (timestamps are positions in each user's sequence)")
    details.add_row("event types", ", ".join(f"{k} {v:,}" for k, v in s["event_counts"].items()))
    dropped = s["dropped"]
    details.add_row("dropped rows", "; ".join(f"{reason}: {n:,}" for reason, n in dropped.items())
                    if dropped else "none")
    console.print(details)


def _load(source: Path, fmt: str | None, mapping: list[str] | None) -> Dataset:
    options: dict[str, Any] = {}
    if mapping:
        options["mapping"] = ColumnMapping.from_pairs(mapping)
        fmt = fmt or "table"
    return load_dataset(source, format=fmt, **options)


def _fail(exc: Exception) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code=2)


def _load_or_exit(source: Path, format: str | None, map: list[str] | None) -> Dataset:
    """The dataset, or a clean CLI exit naming what is wrong with the input."""
    try:
        return _load(source, format, map)
    except (DataError, ValueError) as exc:
        raise _fail(exc) from exc


@data_app.command("stats")
def stats(
    source: Path | None = typer.Argument(
        None, help="Dataset file or folder; default: [data] path of --config."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    map: list[str] | None = typer.Option(None, "--map", help=MAP_HELP),
    config: Path | None = config_option(CONFIG_HELP),
) -> None:
    """Print users, items, interactions, density, sequence lengths, time span and drops."""
    data = load_run_config(config).data
    source = source or data.path
    if source is None:
        raise typer.BadParameter("no dataset: give SOURCE or [data] path in --config",
                                 param_hint="SOURCE")
    dataset = _load_or_exit(source, format or data.format, map)
    print_stats(dataset)


@data_app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="Dataset file or folder."),
    out_dir: Path = typer.Argument(..., help="Folder to write (shelflm's Parquet format)."),
    format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    map: list[str] | None = typer.Option(None, "--map", help=MAP_HELP),
    config: Path | None = config_option(
        "Run config (TOML file or artifact directory) whose [data] format is used where "
        "--format is not given."),
) -> None:
    """Convert a dataset to items.parquet + interactions.parquet + meta.json."""
    fmt = format or load_run_config(config).data.format
    dataset = _load_or_exit(source, fmt, map)
    out = write_project_dataset(dataset, out_dir)
    Console().print(f"wrote {dataset.num_users:,} users, {dataset.num_items:,} items, "
                    f"{len(dataset.interactions):,} interactions to {out}")
