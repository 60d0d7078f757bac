"""`shelflm ensemble`: a text+ID model and a text-only one fitted into one served model, the
new items' exposure picked on validation; `evaluate` and the engine take the directory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event
from test_cli_run import SMALL, write_config

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_ensemble_fits_serves_and_evaluates(project_shop: Path, tmp_path: Path) -> None:
    base, text_only, ens = tmp_path / "base", tmp_path / "text-only", tmp_path / "ens"
    small = write_config(tmp_path, SMALL)
    (tmp_path / "text.toml").write_text(SMALL.replace("[model.items]\n",
                                                      "[model.items]\nuse_id = false\n"))
    for out, cfg in ((base, small), (text_only, tmp_path / "text.toml")):
        done = runner.invoke(app, ["train", str(project_shop), "--cold", "0.2", "--out",
                                   str(out), "--config", str(cfg)])
        assert done.exit_code == 0, done.output
    result = runner.invoke(app, ["ensemble", str(base), "--new-items", str(text_only),
                                 "--out", str(ens), "--offsets", "-1,0,1"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["fit"]["offset"] in (-1.0, 0.0, 1.0) and "cold_ndcg@10" in printed
    config = json.loads((ens / "config.json").read_text())
    assert set(config["fit"]["valid_ndcg@10_by_offset"]) == {"-1", "0", "1"}
    assert (ens / "members" / "new-items" / "config.json").is_file()
    scored = runner.invoke(app, ["evaluate", str(ens), "--config", str(ens)])  # its run
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["ndcg@10"] == printed["ndcg@10"]

    engine = Engine.from_artifact(ens, ServingConfig(store=StoreConfig(
        path=tmp_path / "events.sqlite")))
    first = pd.read_parquet(ens / "members" / "trained" / "catalog.parquet").iloc[0]
    engine.ingest([Event("u", str(first.item_id), "view", 1)])
    engine.upsert_items(pd.DataFrame([{"item_id": "brand-new", "title": first.title,
                                       "category": first.category}]))
    top = engine.recommend("u", 5)
    assert top.source == "personal" and "brand-new" in {r.item_id for r in top.items}
    engine.close()
    blend = runner.invoke(app, ["ensemble", str(base), str(text_only), "--out",
                                str(tmp_path / "blend"), "--weights", "0,1,2"])
    assert blend.exit_code == 0, blend.output
    fit = json.loads((tmp_path / "blend" / "config.json").read_text())["fit"]
    assert fit["kind"] == "blend" and fit["weights"][0] == 1.0
    assert set(fit["valid_ndcg@10_by_weight"][0]) == {"0", "1", "2"}
    kept = json.loads((tmp_path / "blend" / "config.json").read_text())["members"]
    assert len(kept) == 1 + (fit["weights"][1] > 0)  # a member at weight 0 is left out


def test_ensemble_needs_cold_items_and_distinct_paths(project_shop: Path,
                                                      trained_artifact: Path,
                                                      tmp_path: Path) -> None:
    same = runner.invoke(app, ["ensemble", str(trained_artifact), "--new-items",
                               str(trained_artifact), "--out", str(trained_artifact)])
    assert same.exit_code == 2 and "must differ" in same.output
    bad = runner.invoke(app, ["ensemble", str(trained_artifact), "--new-items",
                              str(trained_artifact), "--out", str(tmp_path / "e"),
                              "--data", str(project_shop), "--offsets", "0,x"])
    assert bad.exit_code == 2 and "not a number" in bad.output
    alone = runner.invoke(app, ["ensemble", str(trained_artifact), "--out", str(tmp_path / "e")])
    assert alone.exit_code == 2 and "two or more" in alone.output
