"""`shelflm train --config` on a tiny synthetic shop: file, env and flags make one recorded run."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.settings import ShelfConfig, load_shelf_config


def run_config(project_shop: Path, extra: str = "") -> str:
    return (f'[data]\npath = "{project_shop}"\n[encoder]\nthreads = 1\n'
            "[model.sequence]\nhidden = 16\nnum_blocks = 1\n[model.items]\nhidden = 16\n"
            f"[training]\nepochs = 5\nprogress = false\n{extra}")


@pytest.mark.slow
def test_train_records_file_env_and_flags(project_shop: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFLM_TRAINING__BATCH_SIZE", "16")
    (tmp_path / "run.toml").write_text(run_config(project_shop))
    out = tmp_path / "artifact"
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "run.toml"),
                                      "--epochs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    recorded = load_shelf_config(out, environ={})
    assert recorded.training.epochs == 2  # the flag beats the file's 5
    assert recorded.training.batch_size == 16  # the environment beats the default
    assert recorded.model.sequence.hidden == 16 and recorded.data.path == project_shop  # file
    assert json.loads((out / "config.json").read_text())["dim"] == 16
    assert len((out / "train_log.jsonl").read_text().splitlines()) <= 2
    # `config show` of the artifact prints the same run, ready to train again.
    shown = CliRunner().invoke(app, ["config", "show", "--config", str(out)])
    assert shown.exit_code == 0, shown.output
    assert ShelfConfig.from_dict(tomllib.loads(shown.output)) == recorded

    from shelflm.serving.runtime import load_artifact

    served = load_artifact(out)
    assert served.item_vectors.shape == (40, 16)

    # The artifact alone repeats the run (its own log untouched), here with one epoch fewer.
    assert recorded.training.log_path is None
    again = CliRunner().invoke(app, ["train", "--config", str(out), "--epochs", "1",
                                     "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert load_shelf_config(tmp_path / "again", environ={}) == replace(
        recorded, training=replace(recorded.training, epochs=1))
    assert (tmp_path / "again" / "train_log.jsonl").is_file()


@pytest.mark.slow
def test_train_with_a_tuning_method_and_bad_config(project_shop: Path, tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(run_config(project_shop, "[tuning]\nmethod = 'adaptor'\n"))
    out = tmp_path / "artifact"
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "run.toml"),
                                      "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_shelf_config(out, environ={}).tuning.method == "adaptor"
    assert json.loads((out / "config.json").read_text())["tuner"] == "adaptor"

    (tmp_path / "bad.toml").write_text("[training]\nepochz = 1\n")
    bad = CliRunner().invoke(app, ["train", str(project_shop), "--config",
                                   str(tmp_path / "bad.toml")])
    assert bad.exit_code == 2 and "training.epochz" in bad.output
    none = CliRunner().invoke(app, ["train"])
    assert none.exit_code == 2 and "no dataset" in none.output
