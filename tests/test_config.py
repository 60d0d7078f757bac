"""The config loader: TOML plus SHELFLM_ environment overrides, with errors naming the field."""

from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shelflm.config import ConfigError, env_overrides, field_help, load_config, to_toml


class StrictModel(BaseModel):
    """The machinery validates pydantic models as well as config dataclasses."""

    model_config = ConfigDict(extra="forbid")


class Serving(StrictModel):
    port: int = Field(8000, ge=1, le=65535)
    host: str = "127.0.0.1"


class Root(StrictModel):
    serving: Serving = Serving()


def test_env_overrides_nest_and_parse_scalars():
    env = {"SHELFLM_SERVING__PORT": "9000", "SHELFLM_SERVING__HOST": "0.0.0.0", "OTHER": "x",
           "SHELFLM_API_KEY": "not a config field"}
    assert env_overrides(env) == {"serving": {"port": 9000, "host": "0.0.0.0"}}


def test_toml_then_env_wins(tmp_path):
    path = tmp_path / "shelflm.toml"
    path.write_text('[serving]\nport = 8100\nhost = "localhost"\n')
    cfg = load_config(Root, path, environ={"SHELFLM_SERVING__PORT": "8200"})
    assert cfg.serving.port == 8200 and cfg.serving.host == "localhost"


def test_bad_value_names_the_field(tmp_path):
    path = tmp_path / "shelflm.toml"
    path.write_text("[serving]\nport = 0\n")
    with pytest.raises(ConfigError, match=r"shelflm.toml: field 'serving.port'"):
        load_config(Root, path, environ={})


def test_unknown_key_and_bad_toml_are_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[serving]\nprot = 1\n")
    with pytest.raises(ConfigError, match="serving.prot"):
        load_config(Root, path, environ={})
    path.write_text("[serving\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(Root, path, environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(Root, tmp_path / "missing.toml", environ={})


def test_env_error_names_the_variable(tmp_path):
    path = tmp_path / "shelflm.toml"
    path.write_text("[serving]\nport = 8100\n")
    with pytest.raises(ConfigError, match=r"environment variable SHELFLM_SERVING__PORT: "
                       r"field 'serving.port'"):
        load_config(Root, path, environ={"SHELFLM_SERVING__PORT": "70000"})


def test_every_error_is_listed(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[serving]\nport = 0\nhost = 1\n')
    with pytest.raises(ConfigError) as err:
        load_config(Root, path, environ={})
    assert "serving.port" in str(err.value) and "serving.host" in str(err.value)


@dataclass
class Api:
    """A config dataclass in house style: help in metadata, checks in __post_init__."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    port: int = field(default=8000, metadata={"help": "TCP port."})
    name: str | None = field(default=None, metadata={"help": "Shown in logs."})

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: must be in [1, 65535], got {self.port}")


@dataclass
class Tree:
    __pydantic_config__ = ConfigDict(extra="forbid")

    api: Api = field(default_factory=Api, metadata={"help": "The HTTP API."})


def test_dataclass_errors_name_the_field(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[api]\nport = 0\n")
    with pytest.raises(ConfigError, match=r"c.toml: field 'api.port': .*must be in \[1, 65535\]"):
        load_config(Tree, path, environ={})
    with pytest.raises(ConfigError, match=r"variable SHELFLM_API__PORT: field 'api.port'"):
        load_config(Tree, None, environ={"SHELFLM_API__PORT": "0"})
    path.write_text("[api]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"field 'api.prot'"):
        load_config(Tree, path, environ={})
    assert load_config(Tree, None, environ={"SHELFLM_API__PORT": "9"}) == Tree(Api(port=9))


def test_help_comes_from_field_metadata():
    assert field_help(Api) == {"port": "TCP port.", "name": "Shown in logs."}
    text = to_toml(Tree(), comments=True)
    assert "# The HTTP API." in text and "# TCP port.\nport = 8000" in text
    assert "# Shown in logs.\n# name = (unset)" in text
