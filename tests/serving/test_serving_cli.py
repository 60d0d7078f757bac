"""`shelflm serve` refuses bad arguments with a clear message before starting a server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shelflm.commands import serve as serve_command
from shelflm.config import ConfigError


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    serve_command.register(app)
    app.command("noop")(lambda: None)  # two commands, so `serve` is addressed by name
    return app


def test_missing_artifact_dir_is_named(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope")])
    assert result.exit_code == 2
    text = re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)  # unwrap rich's error box
    assert "is not a directory" in text and "ARTIFACT_DIR" in text.upper()


def test_bad_config_file_names_the_field(app: typer.Typer, tmp_path: Path) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text("[index]\nkind = 'annoy'\n")
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--config", str(cfg)])
    assert isinstance(result.exception, ConfigError)
    assert "index.kind" in str(result.exception)


def test_several_workers_need_the_shared_sqlite_store(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--workers", "2",
                                      "--memory-store"])
    assert result.exit_code == 2
    assert "SQLite" in re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)


def test_a_second_stage_that_is_no_ranker_is_refused(app: typer.Typer, tmp_path: Path) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text(f"[rerank]\nartifact = '{tmp_path}'\n")  # a folder, but no ranker in it
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--config", str(cfg)])
    assert result.exit_code == 2
    assert "not a ranker" in re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)


def test_serving_only_file_sets_the_runtime_fields(tmp_path: Path) -> None:
    from shelflm.settings import load_serving_config

    cfg = tmp_path / "serve.toml"
    cfg.write_text('text_encoder = "pytorch"\nuser_tower = "pytorch"\nuser_cache_size = 5\n'
                   "[store]\nrecent_length = 7\n")
    got = load_serving_config(cfg, environ={})
    assert (got.text_encoder, got.user_tower, got.user_cache_size) == ("pytorch", "pytorch", 5)
    assert got.store.recent_length == 7
    env = load_serving_config(None, environ={"SHELFLM_SERVING__TEXT_ENCODER": "onnx-int8"})
    assert env.text_encoder == "onnx-int8"
