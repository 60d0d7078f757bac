"""`shelflm update`: a model trained on a shop's first weeks continues on the next weeks'
events (a new product among them), replaying its exemplars, and records where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.data.project_format import write_project_dataset
from shelflm.data.schema import Catalog, Dataset, Interactions
from test_cli_run import SMALL, write_config

pytestmark = pytest.mark.slow
runner = CliRunner()


def _two_windows(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """The synthetic shop's events before and after their median time (the later window's
    catalog has one product more, bought by ten shoppers); items only the first has."""
    from shelflm.data.synthetic import SyntheticShopConfig, generate_shop

    shop = generate_shop(SyntheticShopConfig(num_users=60, num_items=30, target_events=1500,
                                             seed=3))
    events = shop.interactions.events.assign(event=lambda f: f["event"].astype(str))
    cut = events["timestamp"].median()
    old, new = events[events.timestamp <= cut], events[events.timestamp > cut]
    new = new[new.item_id != old.item_id.iloc[0]]  # an item nobody takes any more
    first = shop.catalog.items.iloc[0]
    added = pd.DataFrame([{**first.to_dict(), "item_id": "new-product"}])
    buys = pd.DataFrame({"user_id": new["user_id"].unique()[:10], "item_id": "new-product",
                         "timestamp": int(events.timestamp.max()) + 1, "event": "purchase"})
    catalog = Catalog.from_frame(pd.concat([shop.catalog.items, added], ignore_index=True))
    paths = []
    for name, frame, cat in (("old", old, shop.catalog), ("new", pd.concat([new, buys]), catalog)):
        data = Dataset(name, cat, Interactions.from_frame(frame.assign(value=1.0)))
        paths.append(write_project_dataset(data, tmp_path / name))
    return paths[0], paths[1], set(old.item_id) - set(new.item_id)


def test_update_replays_distils_and_records_its_lineage(tmp_path: Path) -> None:
    old, new, only_old = _two_windows(tmp_path)
    config = str(write_config(tmp_path, SMALL))
    parent, child = tmp_path / "v1", tmp_path / "v2"
    trained = runner.invoke(app, ["train", str(old), "--out", str(parent), "--config", config])
    assert trained.exit_code == 0, trained.output
    assert len(pd.read_parquet(parent / "exemplars.parquet")) > 0
    result = runner.invoke(app, ["update", str(parent), str(new), "--out", str(child)])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in json.loads(result.stdout.strip().splitlines()[-1])
    epochs = [json.loads(x) for x in (child / "train_log.jsonl").read_text().splitlines()]
    assert epochs[0]["epoch"] == 0 and "valid_ndcg@10" in epochs[0]  # the start, validated
    record = json.loads((child / "config.json").read_text())
    lineage = record["lineage"]
    assert lineage["parent"]["directory"] == str(parent.resolve())
    assert lineage["data_window"]["items_added"] == 1 and lineage["replayed_events"] > 0
    assert lineage["distill_weight"] == 1.0 and lineage["ancestors"] == [lineage["parent"]]
    catalog = pd.read_parquet(child / "catalog.parquet")
    assert catalog["item_id"].iloc[-1] == "new-product"
    has_id = load_file(str(child / "model.safetensors"))["item_tower.has_id"]
    rows = catalog.reset_index().set_index("item_id")["index"]
    assert only_old and all(has_id[rows[i]] > 0 for i in only_old)  # trained before: kept
    grand = runner.invoke(app, ["update", str(child), str(new), "--out", str(tmp_path / "v3"),
                                "--no-replay", "--distill", "0", "--epochs", "1"])
    assert grand.exit_code == 0, grand.output
    lineage3 = json.loads((tmp_path / "v3" / "config.json").read_text())["lineage"]
    assert [a["directory"] for a in lineage3["ancestors"]] == [str(parent.resolve()),
                                                              str(child.resolve())]
    assert lineage3["replayed_events"] == 0
    has_id3 = load_file(str(tmp_path / "v3" / "model.safetensors"))["item_tower.has_id"]
    assert all(has_id3[rows[i]] > 0 for i in only_old)  # no event, no replay: carried


def test_update_refuses_to_overwrite_its_parent(trained_artifact: Path,
                                                project_shop: Path) -> None:
    same = runner.invoke(app, ["update", str(trained_artifact), str(project_shop), "--out",
                               str(trained_artifact)])
    assert same.exit_code == 2 and "kept for rollback" in same.output


def test_update_says_when_the_data_is_another_shop(tmp_path: Path, trained_artifact: Path,
                                                   project_shop: Path) -> None:
    other = runner.invoke(app, ["update", str(trained_artifact), str(project_shop), "--out",
                                str(tmp_path / "v2"), "--config",
                                str(write_config(tmp_path, SMALL))])
    assert other.exit_code == 2 and "another shop" in other.output
    assert not (tmp_path / "v2" / "config.json").exists()
