"""One typed configuration tree, loaded from TOML with `SHELFLM_` environment overrides.

Each part of shelflm defines its own config model next to its code; this module only
gathers them. `SHELFLM_STORE__PATH=events.db` overrides `[store] path`: sections and
fields are joined by a double underscore, and values are parsed as TOML values where they
can be (`SHELFLM_API__API_KEYS='["k1"]'`), else taken as strings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

ENV_PREFIX = "SHELFLM_"
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file or environment variable that does not fit the config tree."""


def _parse_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare string


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Nested dict from SHELFLM_A__B=value variables."""
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue  # SHELFLM_API_KEY and the like are single options, not config fields
        parts = key[len(ENV_PREFIX):].lower().split("__")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse_scalar(raw)
    return tree


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    model: type[M], path: str | Path | None = None, environ: Mapping[str, str] | None = None,
) -> M:
    """Validate TOML file contents (optional) plus environment overrides into `model`."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    data = _merge(data, env_overrides(environ))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = path or "environment"
        raise ConfigError(f"{source}: field {where!r}: {first['msg']}") from exc


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
