"""The config loader: TOML plus SHELFLM_ environment overrides, with errors naming the field."""

import pytest
from pydantic import Field

from shelflm.config import ConfigError, StrictModel, env_overrides, load_config


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
