"""`shelflm serve` defaults: closed writes, `--open` on loopback only, and the event store in
the data directory (or the demo's store named by the artifact), never the working directory.

The server itself never starts here: `serve_command._run_server` is replaced by a recorder,
so each test sees what serve printed and the config it would have served.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shelflm.commands import serve as serve_command
from shelflm.serving.config import DEFAULT_DATA_DIR, StoreConfig
from shelflm.serving.store import Event, make_store


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    """The configs serve would have started servers with; data dir and cwd under tmp_path."""
    calls: list = []
    monkeypatch.setattr(serve_command, "_run_server", lambda cfg, *args: calls.append(cfg))
    for name in ("SHELFLM_API_KEY", "SHELFLM_STORE__PATH", "SHELFLM_SERVING__STORE__PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHELFLM_DATA", str(tmp_path / "data"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return calls


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    (tmp_path / "artifact").mkdir()
    return tmp_path / "artifact"


def invoke(*args: str):
    app = typer.Typer()
    serve_command.register(app)
    app.command("noop")(lambda: None)  # two commands, so `serve` is addressed by name
    return CliRunner().invoke(app, ["serve", *args])


def unwrapped(output: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", output)  # rich's error box, unwrapped


def test_without_a_key_serve_is_read_only_and_says_so(served: list, artifact: Path) -> None:
    result = invoke(str(artifact))
    assert result.exit_code == 0, result.output
    assert ("access: read-only: no key configured; writes refused (pass --api-key or --open)"
            in result.output)
    assert not served[0].api.open_writes and served[0].api.api_keys == []


def test_with_keys_serve_names_how_many(served: list, artifact: Path) -> None:
    result = invoke(str(artifact), "--api-key", "a", "--api-key", "b")
    assert result.exit_code == 0, result.output
    assert "access: writes need X-API-Key (2 keys)" in result.output
    assert "-H 'X-API-Key: <your key>'" in result.output  # the key itself is not printed
    assert "'a'" not in result.output and served[0].api.api_keys == ["a", "b"]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_open_on_loopback_sets_open_writes(served: list, artifact: Path, host: str) -> None:
    result = invoke(str(artifact), "--open", "--host", host)
    assert result.exit_code == 0, result.output
    assert ("access: OPEN: anyone on this machine can write and reload (loopback only)"
            in result.output)
    assert served[0].api.open_writes


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "shop.example.com"])
def test_open_is_refused_off_loopback(served: list, artifact: Path, host: str) -> None:
    result = invoke(str(artifact), "--open", "--host", host)
    assert result.exit_code == 2 and not served
    text = unwrapped(result.output)
    assert "--open" in text and f"--host {host} is not a loopback address" in text


def test_open_from_a_config_file_is_refused_off_loopback(served: list, artifact: Path,
                                                          tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("[api]\nopen_writes = true\n")
    result = invoke(str(artifact), "--config", str(config), "--host", "0.0.0.0")
    assert result.exit_code == 2 and not served
    assert "not a loopback address" in unwrapped(result.output)


def test_open_with_keys_is_refused(served: list, artifact: Path) -> None:
    result = invoke(str(artifact), "--open", "--api-key", "k")
    assert result.exit_code == 2 and not served
    assert "drop --open" in unwrapped(result.output)


def test_is_loopback() -> None:
    assert serve_command.is_loopback("127.0.0.1") and serve_command.is_loopback("::1")
    assert not serve_command.is_loopback("0.0.0.0") and not serve_command.is_loopback("")


def test_default_store_is_in_the_data_dir_and_says_it_starts_empty(
        served: list, artifact: Path, tmp_path: Path) -> None:
    result = invoke(str(artifact))
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "events.sqlite"
    assert served[0].store.path == path  # resolved once, so every worker opens this file
    assert f"store: starting with an EMPTY store at {path}" in unwrapped(result.output)
    assert list((tmp_path / "cwd").iterdir()) == []


def test_an_existing_store_is_named_without_the_empty_warning(
        served: list, artifact: Path, tmp_path: Path) -> None:
    db = tmp_path / "shop.sqlite"
    store = make_store(StoreConfig(path=db))
    store.append([Event("u", "i", "view", 1)])
    store.close()
    result = invoke(str(artifact), "--events-db", str(db))
    assert result.exit_code == 0, result.output
    assert f"store: {db}" in result.output and "EMPTY" not in result.output
    memory = invoke(str(artifact), "--memory-store")
    assert "store: in memory, starting empty" in memory.output


def test_serve_uses_the_store_the_artifact_names(served: list, artifact: Path,
                                                 tmp_path: Path) -> None:
    db = tmp_path / "demo" / "events.sqlite"
    make_store(StoreConfig(path=db)).close()
    (artifact / serve_command.ARTIFACT_SERVING_FILE).write_text(f'[store]\npath = "{db}"\n')
    result = invoke(str(artifact))
    assert result.exit_code == 0, result.output
    assert served[0].store.path == db and f"store: {db}" in result.output
    assert "serving.toml" in result.output and "EMPTY" not in result.output
    other = tmp_path / "other.sqlite"
    assert invoke(str(artifact), "--events-db", str(other)).exit_code == 0
    assert served[1].store.path == other  # the flag wins over the artifact's file
    config = tmp_path / "serve.toml"
    config.write_text("[rules]\ndiversity_cap = 2\n")
    assert invoke(str(artifact), "--config", str(config)).exit_code == 0
    assert served[2].store.path == tmp_path / "data" / "events.sqlite"  # --config replaces it


def test_store_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFLM_DATA", str(tmp_path / "env"))
    assert StoreConfig().sqlite_path() == tmp_path / "env" / "events.sqlite"
    assert StoreConfig(data_dir=tmp_path / "d").sqlite_path() == tmp_path / "d" / "events.sqlite"
    assert StoreConfig(path=tmp_path / "x.db", data_dir=tmp_path / "d").sqlite_path() == \
        tmp_path / "x.db"
    monkeypatch.delenv("SHELFLM_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert StoreConfig().sqlite_path() == \
        Path(DEFAULT_DATA_DIR.replace("~", str(tmp_path / "home"))) / "events.sqlite"


def test_make_store_writes_the_default_store_in_the_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFLM_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    make_store(StoreConfig()).close()
    assert (tmp_path / "data" / "events.sqlite").is_file()
    assert not list(tmp_path.glob("*.sqlite*"))


def test_catalog_flag_reaches_the_config_or_names_what_is_missing(served: list, artifact: Path,
                                                                  tmp_path: Path) -> None:
    missing = invoke(str(artifact), "--catalog", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "nope.csv: no such file" in unwrapped(missing.output)
    shop = tmp_path / "shop.csv"
    shop.write_text("item_id,title\na,red lipstick\n")
    result = invoke(str(artifact), "--catalog", str(shop))
    assert result.exit_code == 0, result.output
    assert served[0].catalog == shop.resolve()
