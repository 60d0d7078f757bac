"""Loading typed configs from TOML with `SHELFLM_` environment overrides, and writing them back.

Each part of shelflm defines its own config next to its code; `shelflm.settings.ShelfConfig`
gathers them into one tree. This module holds the machinery every config shares:
`SHELFLM_TRAINING__EPOCHS=5` overrides `[training] epochs`: sections and fields are joined by
a double underscore, and values are parsed as TOML values where they can be
(`SHELFLM_SERVING__API__API_KEYS='["k1"]'`), else taken as strings. Errors name the file or
the environment variable, and the field's dotted TOML path.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import os
import tokenize
import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tomlkit
from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from shelflm.serving.config import ServingConfig

ENV_PREFIX = "SHELFLM_"
# The sections of shelflm.settings.ShelfConfig (a test keeps the two in step); known here so
# `shelflm serve` can tell a whole-run file from a serving-only one without importing torch.
ROOT_SECTIONS = ("data", "text", "encoder", "tuning", "model", "training", "serving")
SERVING_SECTIONS = ("index", "store", "rules", "api", "model_loader")
M = TypeVar("M", bound=BaseModel)
FieldPath = tuple[str, ...]


class ConfigError(ValueError):
    """A configuration file or environment variable that does not fit the config tree."""


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


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
    model: type[M], data: dict[str, Any], source: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    relocate: Callable[[FieldPath], FieldPath | None] | None = None, shown_prefix: FieldPath = (),
) -> M:
    """Validate `data` (read from `source`) plus environment overrides into `model`.

    `relocate` maps an environment variable's field path into `model`'s tree (None drops
    it); `shown_prefix` is prepended to field paths in errors (a section of a bigger file).
    """
    entries = env_entries(environ)
    if relocate is not None:
        moved = {relocate(p): v for p, v in entries.items()}
        entries = {p: v for p, v in moved.items() if p}
    try:
        return model.model_validate(merge(data, _nest(entries)))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            # An env var explains an error at its own field, above it (a section's check)
            # or below it (a table given as one variable).
            env = [var for p, (var, _) in entries.items() if p[:len(loc)] == loc
                   or loc[:len(p)] == p]
            where = (f"environment variable {', '.join(env)}" if env
                     else str(source or "defaults"))
            lines.append(f"{where}: field {'.'.join(shown_prefix + loc)!r}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def load_config(
    model: type[M], path: str | Path | None = None, environ: Mapping[str, str] | None = None,
) -> M:
    """Validate TOML file contents (optional) plus environment overrides into `model`."""
    data = read_config_file(path) if path is not None else {}
    return validate_config(model, data, path, environ)


def load_serving_config(path: str | Path | None = None,
                        environ: Mapping[str, str] | None = None) -> ServingConfig:
    """ServingConfig from a serving-only file ([index], [store], ...) or a whole-run file.

    A whole-run file (any of ROOT_SECTIONS at the top) gives its [serving] table. Either way
    SHELFLM_SERVING__STORE__PATH and the short SHELFLM_STORE__PATH both override, and
    variables of the other run sections (SHELFLM_TRAINING__...) are left to `shelflm train`.
    """
    from shelflm.serving.config import ServingConfig

    data = read_config_file(path) if path is not None else {}
    prefix: FieldPath = ()
    if set(data) & set(ROOT_SECTIONS):
        stray = sorted(set(data) - set(ROOT_SECTIONS))
        if stray:
            raise ConfigError(f"{path}: unknown sections {stray} in a whole-run file; "
                              f"sections are {list(ROOT_SECTIONS)}")
        data, prefix = data.get("serving", {}), ("serving",)

    def relocate(p: FieldPath) -> FieldPath | None:
        if p[0] == "serving":
            return p[1:] or None
        return None if p[0] in ROOT_SECTIONS else p

    return validate_config(ServingConfig, data, path, environ, relocate, prefix)


# ----- writing configs back as TOML ---------------------------------------------------------

@cache
def _source_comments(cls: type) -> dict[str, str]:
    """Trailing `# comments` of a dataclass's field lines: the help of dataclasses that
    document fields that way (TrainConfig, ShelfModelConfig...), kept in one place."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        name, trailing, above, depth = None, "", [], 0
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.INDENT:
                depth += 1
            elif tok.type == tokenize.DEDENT:
                depth -= 1
            elif depth != 1:
                continue
            elif tok.type == tokenize.NAME and tok.start[1] == 4 and name is None:
                name = tok.string
            elif tok.type == tokenize.COMMENT:
                if name:
                    trailing = tok.string.lstrip("# ").strip()
                else:  # a comment line above a field explains it
                    above.append(tok.string.lstrip("# ").strip())
            elif tok.type == tokenize.NEWLINE:
                if name and (trailing or above):
                    out[name] = trailing or " ".join(above)
                name, trailing, above = None, "", []
    return out


def field_help(obj: Any) -> dict[str, str]:
    """Help text per field of a pydantic model or a dataclass (instance or class)."""
    cls = obj if isinstance(obj, type) else type(obj)
    if isinstance(obj, BaseModel) or (isinstance(cls, type) and issubclass(cls, BaseModel)):
        return {n: f.description or "" for n, f in cls.model_fields.items()}
    if dataclasses.is_dataclass(cls):
        comments = _source_comments(cls)
        return {f.name: f.metadata.get("help") or comments.get(f.name, "")
                for f in dataclasses.fields(cls)}
    return {}


def to_toml(config: BaseModel, comments: bool = False) -> str:
    """The config as TOML (None values, which TOML cannot hold, become comments)."""
    doc = tomlkit.document()
    _fill(doc, config.model_dump(mode="json"), config, comments)
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
