"""`shelflm config show|init`: print the effective run config, or write a commented default.

Loading a config never imports torch, so these commands (and `--help`) start quickly.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shelflm.config import ConfigError
from shelflm.settings import ShelfConfig, load_shelf_config

config_app = typer.Typer(help="Show or create the run config (TOML).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach the `config` command group."""
    app.add_typer(config_app, name="config")


def _load(config: Path | None) -> ShelfConfig:
    """The effective config, or exit 2 naming the file or variable and the field."""
    try:
        return load_shelf_config(config)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc


@config_app.command("show")
def show(
    config: Path | None = typer.Option(
        None, "--config", help="TOML file, or an artifact directory (its recorded run)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of TOML."),
    comments: bool = typer.Option(False, help="Each field's help as a comment above it."),
) -> None:
    """Print the effective config: defaults, then --config, then SHELFLM_* variables."""
    cfg = _load(config)
    typer.echo(cfg.to_json(indent=2) if as_json else cfg.to_toml(comments), nl=as_json)


@config_app.command("init")
def init(
    path: Path = typer.Argument(Path("shelflm.toml"), help="File to write."),
    force: bool = typer.Option(False, help="Overwrite an existing file."),
    config: Path | None = typer.Option(
        None, "--config", help="Start from this config (a TOML file, or an artifact directory: "
        "its recorded run) with SHELFLM_* variables applied, instead of the defaults."),
) -> None:
    """Write the default config (or --config's) with every field's help as a comment."""
    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; pass --force to overwrite", param_hint="PATH")
    start = ShelfConfig() if config is None else _load(config)
    header = ("# shelflm run config: `shelflm train --config FILE`, `shelflm serve ... --config "
              "FILE`.\n# Environment variables override any field: SHELFLM_<SECTION>__<FIELD>, "
              "e.g. SHELFLM_TRAINING__EPOCHS=5.\n\n")
    path.write_text(header + start.to_toml(comments=True))
    typer.echo(f"wrote {path}")
