"""Loading typed configs from TOML with `SHELFLM_` environment overrides, and writing them back.

Each part of shelflm defines its own config next to its code: a torch-free dataclass whose
fields carry their help text as `field(..., metadata={"help": ...})` and whose
`__post_init__` raises ValueError("<field>: <reason>"); `shelflm.settings.ShelfConfig`
gathers them into one tree, validated by pydantic. This module holds the machinery they share:
`SHELFLM_TRAINING__EPOCHS=5` overrides `[training] epochs`: sections and fields are joined by
a double underscore, and values are parsed as TOML values where they can be
(`SHELFLM_SERVING__API__API_KEYS='["k1"]'`), else taken as strings. Errors name the file or
the environment variable, and the field's dotted TOML path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
from pydantic import TypeAdapter, ValidationError

ENV_PREFIX = "SHELFLM_"
T = TypeVar("T")
FieldPath = tuple[str, ...]
# A config's __post_init__ names the field it refuses as "field: reason" (house style).
_FIELD_MESSAGE = re.compile(r"(?:Value error, )?([a-z_][a-z0-9_]*): (.*)", re.S)


class ConfigError(ValueError):
    """A configuration file or environment variable that does not fit the config tree."""


@cache
def config_adapter(model: type[T]) -> TypeAdapter[T]:
    """The pydantic validator/serialiser of a config class (a dataclass tree), built once."""
    return TypeAdapter(model)


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare string


def env_entries(environ: Mapping[str, str] | None = None) -> dict[FieldPath, tuple[str, Any]]:
    """{field path: (variable name, parsed value)} of the SHELFLM_A__B=value variables."""
    environ = os.environ if environ is None else environ
    out: dict[FieldPath, tuple[str, Any]] = {}
    for key, raw in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue  # SHELFLM_API_KEY and the like are single options, not config fields
        out[tuple(key[len(ENV_PREFIX):].lower().split("__"))] = (key, _parse_scalar(raw))
    return out


def _nest(entries: Mapping[FieldPath, tuple[str, Any]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, (_, value) in entries.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Nested dict from SHELFLM_A__B=value variables."""
    return _nest(env_entries(environ))


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` laid over `base`, table by table (neither is changed)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The tree in a TOML file, or in a JSON file when the name ends in .json."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of sections, got {type(data).__name__}")
    return data


def validate_config(
    model: type[T], data: dict[str, Any], source: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    relocate: Callable[[FieldPath], FieldPath | None] | None = None, shown_prefix: FieldPath = (),
) -> T:
    """Validate `data` (read from `source`) plus environment overrides into `model`.

    `relocate` maps an environment variable's field path into `model`'s tree (None drops
    it); `shown_prefix` is prepended to field paths in errors (a section of a bigger file).
    """
    entries = env_entries(environ)
    if relocate is not None:
        moved = {relocate(p): v for p, v in entries.items()}
        entries = {p: v for p, v in moved.items() if p}
    try:
        return config_adapter(model).validate_python(merge(data, _nest(entries)))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc, msg = _error_field(model, err)
            # An env var explains an error at its own field, above it (a section's check)
            # or below it (a table given as one variable).
            env = [var for p, (var, _) in entries.items() if p[:len(loc)] == loc
                   or loc[:len(p)] == p]
            where = (f"environment variable {', '.join(env)}" if env
                     else str(source or "defaults"))
            lines.append(f"{where}: field {'.'.join(shown_prefix + loc)!r}: {msg}")
        raise ConfigError("\n".join(lines)) from exc


def _error_field(model: type, err: Any) -> tuple[FieldPath, str]:
    """An error's field path and message; a section's "field: reason" moves to that field."""
    loc = tuple(str(p) for p in err["loc"])
    found = _FIELD_MESSAGE.fullmatch(err["msg"]) if err["type"] == "value_error" else None
    if found and found[1] in _field_types(model, loc):
        return (*loc, found[1]), f"Value error, {found[2]}"
    return loc, err["msg"]


def _field_types(model: Any, loc: FieldPath) -> dict[str, Any]:
    """{field: type} of the config dataclass at `loc` inside `model` ({} where there is none)."""
    cls = model
    for part in loc:
        hint = _dataclass_fields(cls).get(part)
        # `Section | None` fields: follow the dataclass of the union.
        cls = next((t for t in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(t)),
                   None)
    return _dataclass_fields(cls)


def _dataclass_fields(cls: Any) -> dict[str, Any]:
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return {}
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # a type named only for type checkers: names still help
        hints = {}
    return {f.name: hints.get(f.name) for f in dataclasses.fields(cls)}


def load_config(
    model: type[T], path: str | Path | None = None, environ: Mapping[str, str] | None = None,
) -> T:
    """Validate TOML file contents (optional) plus environment overrides into `model`."""
    data = read_config_file(path) if path is not None else {}
    return validate_config(model, data, path, environ)


# ----- writing configs back as TOML ---------------------------------------------------------

def field_help(config: Any) -> dict[str, str]:
    """Help text per field of a config dataclass (instance or class): its metadata["help"]."""
    cls = config if isinstance(config, type) else type(config)
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON-ready data (paths as strings, tuples as lists)."""
    return config_adapter(type(config)).dump_python(config, mode="json")


def to_toml(config: Any, comments: bool = False) -> str:
    """The config as TOML (None values, which TOML cannot hold, become comments)."""
    doc = tomlkit.document()
    _fill(doc, to_dict(config), config, comments)
    return tomlkit.dumps(doc)


def _fill(table: Any, data: dict[str, Any], obj: Any, comments: bool) -> None:
    helps = field_help(obj) if obj is not None else {}
    # Plain keys first: in TOML a key after a sub-table header would belong to that table.
    for key, value in sorted(data.items(), key=lambda kv: isinstance(kv[1], dict)):
        text = helps.get(key, "")
        if isinstance(value, dict):
            sub = tomlkit.table()
            if comments and text:
                sub.add(tomlkit.comment(text))
            _fill(sub, value, getattr(obj, key, None), comments)
            table.add(key, sub)
            continue
        if comments and text:
            table.add(tomlkit.comment(text))
        if value is None:
            table.add(tomlkit.comment(f"{key} = (unset)"))
        else:
            table.add(key, value)
    if comments:
        table.add(tomlkit.nl())
