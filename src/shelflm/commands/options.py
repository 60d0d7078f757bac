"""What the run commands share: `--config`, flags laid over the loaded config, the data.

Every command takes `--config PATH`: a TOML run config (`shelflm config init`) or an
artifact directory, whose recorded run it repeats. Settings come from the defaults, then
the file, then SHELFLM_<SECTION>__<FIELD> environment variables, then the command's flags.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shelflm.data.errors import DataError
from shelflm.data.exclusions import read_excluded_users, without_users
from shelflm.data.loaders import load_dataset
from shelflm.data.shops import combine_shops
from shelflm.settings import ShelfConfig, TextConfig, load_shelf_config

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split
    from shelflm.training.registry import ModelSpec

CONFIG_HELP = ("Run config: a TOML file (`shelflm config init`), or an artifact directory to "
               "repeat its run. Flags given here override it.")


def config_option(help: str = CONFIG_HELP) -> Any:
    """The `--config PATH` option every command takes."""
    return typer.Option(None, "--config", help=help)


def _data_section(config: ShelfConfig, data: Path | None, cold: float | None,
                  seed: int | None, also: list[Path] | None = None) -> ShelfConfig:
    """[data] with the DATA argument(s), --cold and --seed laid over it (and the train
    seed); `also`: further shops given after the first DATA."""
    section: dict[str, object] = {}
    if data is not None:
        section["path"] = data.resolve()  # absolute: the artifact's record must work anywhere
    if also:
        section["also"] = [p.resolve() for p in also]
    cold_start = config.data.cold_start
    if cold is not None:
        section["split"] = "cold-start" if cold else "leave-one-out"
        if cold:
            cold_start = replace(cold_start, cold_fraction=cold)
    training = config.training
    if seed is not None:  # one seed for the cold-item draw and the training, as before
        cold_start = replace(cold_start, seed=seed)
        training = replace(training, seed=seed)
    return replace(config, data=replace(config.data, **section, cold_start=cold_start),
                   training=training)


def with_flags(config: ShelfConfig, data: Path | None = None, template: str | None = None,
               hidden: int | None = None, epochs: int | None = None,
               cold: float | None = None, seed: int | None = None,
               time_budget_s: float | None = None,
               also: list[Path] | None = None,
               exclude_users: Path | None = None) -> ShelfConfig:
    """`config` with the CLI flags that were given laid over it (flags win over the file)."""
    config = _data_section(config, data, cold, seed, also)
    if exclude_users is not None:
        config = replace(config, data=replace(config.data, exclude_users=exclude_users))
    update: dict[str, object] = {}
    if template is not None:
        update["text"] = TextConfig(template=template)
    if hidden is not None:
        update["model"] = replace(config.model, sequence=replace(config.model.sequence,
                                  hidden=hidden), items=replace(config.model.items, hidden=hidden))
    training: dict[str, object] = {}
    if epochs is not None:
        training["epochs"] = epochs
    if time_budget_s is not None:
        training["time_budget_s"] = time_budget_s
    if training:
        update["training"] = replace(config.training, **training)
    return replace(config, **update)


def load_run_config(path: Path | None, base: dict[str, Any] | None = None,
                    **flags: Any) -> ShelfConfig:
    """The run's ShelfConfig: defaults < `base` < --config file < environment < flags."""
    try:
        return with_flags(load_shelf_config(path, base=base), **flags)
    except ValueError as exc:  # ConfigError too: the message names the file/variable/field
        raise typer.BadParameter(str(exc), param_hint="--config or a flag") from exc


def load_data(config: ShelfConfig) -> tuple[ShelfConfig, Dataset, Split]:
    """The [data] dataset and its split; the config gets the dataset's absolute path."""
    if config.data.path is None:
        raise typer.BadParameter("no dataset: give DATA or [data] path in --config",
                                 param_hint="DATA")
    # Recorded in an artifact, so an absolute path: the run must repeat from any directory.
    config = replace(config, data=replace(config.data, path=config.data.path.resolve()))
    try:
        dataset = load_dataset(config.data.path, format=config.data.format)
        if config.data.also:
            dataset = combine_shops(_named_shops(
                [dataset, *(load_dataset(p) for p in config.data.also)],
                [config.data.path, *config.data.also]))
    except (DataError, ValueError) as exc:  # the message names the file, line and field
        raise typer.BadParameter(str(exc), param_hint="DATA") from exc
    dataset = excluding(dataset, config.data.exclude_users)
    return config, dataset, config.data.splitter().split(dataset)


def excluding(dataset: Dataset, path: Path | None) -> Dataset:
    """`dataset` without the events of the users listed in `path` ([data] exclude_users)."""
    if path is None:
        return dataset
    try:
        out, dropped = without_users(dataset, read_excluded_users(path))
    except DataError as exc:
        raise typer.BadParameter(str(exc), param_hint="--exclude-users") from exc
    typer.echo(f"excluded {dropped:,} events of the users in {path}", err=True)
    return out


def _named_shops(shops: list[Dataset], paths: list[Path]) -> list[Dataset]:
    """The shops of a multi-shop run, named (id prefixes) by their dataset names, or by
    their file or folder names when two datasets share a name (two synthetic shops)."""
    if len({shop.name for shop in shops}) < len(shops):
        for shop, path in zip(shops, paths, strict=True):
            shop.name = path.stem
    return shops


def model_names_option(models: str | None) -> list[str] | None:
    """A comma-separated --models value as names; None when not given."""
    if models is None:
        return None
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("no model names given", param_hint="--models")
    return names


def registered(name: str, param_hint: str = "--model") -> ModelSpec:
    """The registry entry of a model name given on the command line."""
    # Deferred: the registry builds torch models, and this module must stay torch-free.
    from shelflm.training.registry import UnknownModelError, model_spec

    try:
        return model_spec(name)
    except UnknownModelError as exc:
        raise typer.BadParameter(str(exc), param_hint=param_hint) from exc
