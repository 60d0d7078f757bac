"""Killing `shelflm refresh` at any point loses no events and leaves no half-written artifact
that a server could load; a restarted refresh finishes the interrupted update."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.models.artifact import read_artifact
from shelflm.serving.store import Event
from shelflm.serving.store.sqlite_store import SqliteEventStore
from test_cli_refresh import reloads  # noqa: F401 (the fixture)
from test_cli_run import SMALL, write_config
from test_cli_update import _two_windows

pytestmark = pytest.mark.slow
runner = CliRunner()


def _killed_when(models: Path, args: list[str], ready: str) -> None:
    """Start the refresh as its own process and SIGKILL it as soon as `ready` exists under
    `models` (or after 120 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "shelflm.cli", *args],
                            env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (models / ready).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_refresh_loses_nothing_and_shows_no_half_artifact(tmp_path: Path,
                                                                    reloads) -> None:  # noqa: F811
    url, calls = reloads
    old, new, _ = _two_windows(tmp_path)
    models, db = tmp_path / "models", tmp_path / "events.sqlite"
    assert runner.invoke(app, ["train", str(old), "--out", str(models / "v0001"), "--config",
                               str(write_config(tmp_path, SMALL))]).exit_code == 0
    events = pd.read_parquet(new / "interactions.parquet")
    store = SqliteEventStore(db)
    store.append([Event(r.user_id, r.item_id, r.event, int(r.timestamp))
                  for r in events.itertuples()])
    stored = store.popularity_snapshot()[0]
    store.close()
    args = ["refresh", str(models), "--artifact", "v0001", "--events-db", str(db), "--url", url,
            "--min-events", "10", "--tolerance", "1", "--every", "1", "--nice", "0"]
    # Mid-update: the candidate's folder exists, its config.json (written last) not yet.
    _killed_when(models, args, "v0002/model.safetensors")
    assert (models / "v0002" / "model.safetensors").exists()  # killed mid-way, not before
    assert calls == []
    if (models / "refresh.json").exists():
        assert json.loads((models / "refresh.json").read_text())["live"] == "v0001"
    with pytest.raises(FileNotFoundError, match="not a shelflm artifact"):
        read_artifact(models / "v0002")  # what a server's reload would answer
    store = SqliteEventStore(db)
    assert store.popularity_snapshot()[0] == stored  # every event still there
    store.close()
    again = runner.invoke(app, [*args, "--once", "--threads", "1"])
    assert again.exit_code == 0, again.output
    state = json.loads((models / "refresh.json").read_text())
    assert state["live"] == "v0002" and state["history"][-1]["decision"] == "accept"
    assert read_artifact(models / "v0002").config["lineage"]["parent"]
    assert calls == [("/admin/reload", None, {"artifact_dir": "v0002"})]
