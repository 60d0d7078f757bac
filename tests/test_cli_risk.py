"""`shelflm risk`: train writes the risk model, score ranks an injected bot first with its
reasons, train --exclude-users leaves the flagged out, list and release work on a store."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from risk_shop import burst_bot
from shelflm.cli import app
from shelflm.data.loaders import load_dataset
from shelflm.data.project_format import write_project_dataset
from shelflm.serving.config import StoreConfig
from shelflm.serving.store import Event, RiskChange, make_store

runner = CliRunner()
SMALL = ("[model.sequence]\nhidden = 16\nnum_blocks = 1\n[model.items]\nhidden = 16\n"
         "[training]\nepochs = 2\nprogress = false\n")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, project_shop: Path) -> Path:
    root = tmp_path_factory.mktemp("risk-cli")
    (root / "small.toml").write_text(SMALL)
    out = root / "model"
    result = runner.invoke(app, ["train", str(project_shop), "--out", str(out), "--config",
                                 str(root / "small.toml")])
    assert result.exit_code == 0, result.output
    return out


def _with_bot(project_shop: Path, out: Path) -> Path:
    shop = load_dataset(project_shop)
    ids = shop.catalog.items["item_id"].astype(str).tolist()
    events = pd.concat([shop.interactions.events.astype({"event": str}),
                        burst_bot("bot", ids, 120)], ignore_index=True)
    return write_project_dataset(shop.with_interactions(events), out)


def test_train_fits_a_risk_model_and_score_ranks_a_bot_first(trained: Path, project_shop: Path,
                                                             tmp_path: Path) -> None:
    assert (trained / "risk" / "risk.json").is_file()
    data = _with_bot(project_shop, tmp_path / "with-bot")
    out = tmp_path / "risk.csv"
    result = runner.invoke(app, ["risk", "score", str(data), "--artifact", str(trained),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["user_id"] == "bot" and rows[0]["flagged"] == "True"
    assert "shoppers" in rows[0]["reasons"]
    assert {r["user_id"] for r in rows} >= {"bot", rows[-1]["user_id"]}
    refit = runner.invoke(app, ["risk", "fit", str(project_shop), "--artifact", str(trained),
                                "--threshold", "0.95"])
    assert refit.exit_code == 0 and "threshold 0.95" in refit.output
    # The flagged rows of the scores leave the bot out of a training run.
    again = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "clean"),
                                "--config", str(trained.parent / "small.toml"),
                                "--exclude-users", str(out)])
    assert again.exit_code == 0, again.output
    assert "excluded 120 events" in again.output or "excluded" in again.stderr


def test_score_refuses_an_artifact_without_a_risk_model(project_shop: Path,
                                                        tmp_path: Path) -> None:
    result = runner.invoke(app, ["risk", "score", str(project_shop), "--artifact",
                                 str(tmp_path)])
    assert result.exit_code != 0 and "no risk model" in result.output


def test_list_and_release_on_the_servers_store(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = make_store(StoreConfig(path=db))
    store.append([Event("bot", "i1", "view", 1)])
    store.log_risk([RiskChange("bot", "quarantined", 1.0, '[{"text": "too fast"}]')])
    store.close()
    listed = runner.invoke(app, ["risk", "list", "--events-db", str(db)])
    assert listed.exit_code == 0 and "bot,1.0,too fast" in listed.output
    released = runner.invoke(app, ["risk", "release", "bot", "--events-db", str(db)])
    assert released.exit_code == 0 and "released bot" in released.output
    assert "bot" not in runner.invoke(app, ["risk", "list", "--events-db",
                                            str(db)]).output.splitlines()[1:]
    unknown = runner.invoke(app, ["risk", "release", "nobody", "--events-db", str(db)])
    assert unknown.exit_code != 0 and "nobody" in unknown.output
