"""`shelflm refresh` / `rollback`: new events in the serving store become an update of the
live version, judged on the freshest events and swapped in through POST /admin/reload
(a stand-in server records the calls); every decision lands in refresh.json and the log."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event
from shelflm.serving.store.sqlite_store import SqliteEventStore
from test_cli_run import SMALL, write_config
from test_cli_update import _two_windows

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def reloads() -> Iterator[tuple[str, list]]:
    """A stand-in for the server's POST /admin/reload: records each body, answers 200."""
    calls: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((self.path, self.headers.get("X-API-Key"), body))
            answer = json.dumps({"model_version": "x", "reload_generation": len(calls)})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", calls
    server.shutdown()


def test_refresh_updates_judges_swaps_and_rolls_back(tmp_path: Path, reloads) -> None:
    url, calls = reloads
    old, new, _ = _two_windows(tmp_path)
    models = tmp_path / "models"
    trained = runner.invoke(app, ["train", str(old), "--out", str(models / "v0001"),
                                  "--config", str(write_config(tmp_path, SMALL))])
    assert trained.exit_code == 0, trained.output
    events = pd.read_parquet(new / "interactions.parquet")
    store = SqliteEventStore(tmp_path / "events.sqlite")
    store.append([Event(r.user_id, r.item_id, r.event, int(r.timestamp))
                  for r in events.itertuples()])
    store.close()
    args = ["refresh", str(models), "--events-db", str(tmp_path / "events.sqlite"), "--once",
            "--url", url, "--api-key", "k", "--tolerance", "1", "--nice", "0", "--threads",
            str(torch.get_num_threads())]
    first = runner.invoke(app, [*args, "--artifact", "v0001", "--min-events", "10"])
    assert first.exit_code == 0, first.output
    state = json.loads((models / "refresh.json").read_text())
    decision = state["history"][-1]
    assert decision["decision"] == "accept" and state["live"] == "v0002"
    assert set(decision["ndcg@10"]) == {"live", "candidate"} and decision["held_out_cases"] > 0
    assert calls == [("/admin/reload", "k", {"artifact_dir": "v0002"})]
    lineage = json.loads((models / "v0002" / "config.json").read_text())["lineage"]
    assert lineage["parent"]["directory"] == str((models / "v0001").resolve())
    engine = Engine.from_artifact(models / "v0002", ServingConfig(
        store=StoreConfig(path=tmp_path / "events.sqlite")))
    assert engine.info()["lineage"]["parent"] == lineage["parent"]  # GET /model shows it
    engine.close()
    again = runner.invoke(app, args)  # nothing new in the store: wait
    assert again.exit_code == 0 and len(calls) == 1
    back = runner.invoke(app, ["rollback", str(models), "--url", url, "--api-key", "k"])
    assert back.exit_code == 0, back.output
    assert calls[-1][2] == {"artifact_dir": "v0001"}
    assert json.loads((models / "refresh.json").read_text())["live"] == "v0001"
    log = [json.loads(line) for line in (models / "refresh_log.jsonl").read_text().splitlines()]
    assert [r["decision"] for r in log] == ["accept", "rollback"]


def test_refresh_needs_a_live_version(tmp_path: Path) -> None:
    result = runner.invoke(app, ["refresh", str(tmp_path), "--events-db",
                                 str(tmp_path / "e.sqlite"), "--once"])
    assert result.exit_code == 2 and "--artifact" in result.output


def test_a_failed_refresh_keeps_the_live_version_and_says_why(
        tmp_path: Path, reloads, monkeypatch: pytest.MonkeyPatch) -> None:
    """...and by default the loop yields to the servers: nice +19, one torch thread."""
    url, calls = reloads
    old, _, _ = _two_windows(tmp_path)
    models = tmp_path / "models"
    assert runner.invoke(app, ["train", str(old), "--out", str(models / "v0001"), "--config",
                               str(write_config(tmp_path, SMALL))]).exit_code == 0
    store = SqliteEventStore(tmp_path / "events.sqlite")
    store.append([Event(f"u{k}", "no-such-item", "view", k) for k in range(5)])
    store.close()
    polite = []
    monkeypatch.setattr(os, "nice", lambda n: polite.append(("nice", n)))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: polite.append(("threads", n)))
    result = runner.invoke(app, ["refresh", str(models), "--artifact", "v0001", "--events-db",
                                 str(tmp_path / "events.sqlite"), "--once", "--min-events",
                                 "1", "--url", url])
    assert result.exit_code == 0, result.output
    state = json.loads((models / "refresh.json").read_text())
    assert state["live"] == "v0001", state
    assert state["history"][-1]["decision"] == "failed", state["history"]
    assert state["history"][-1]["error"] and calls == []
    assert polite == [("nice", 19), ("threads", 1)]
