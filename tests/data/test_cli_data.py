"""`shelflm data stats|convert` through typer's CliRunner, and `dataset_stats` on a known set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.data.loaders import load_dataset
from shelflm.data.stats import dataset_stats

runner = CliRunner()

# Two users: u1 has 3 events over two days, u2 one event; 3 items in the catalog.
EVENTS = (
    "customer,sku,ts,kind\n"
    "u1,a,2024-01-01T00:00:00Z,view\n"
    "u1,b,2024-01-01T12:00:00Z,purchase\n"
    "u1,c,2024-01-03T00:00:00Z,purchase\n"
    "u2,a,2024-01-02T00:00:00Z,view\n"
    "u2,a,2024-01-02T00:00:00Z,view\n"
)
MAP = ["--map", "user_id=customer", "--map", "item_id=sku", "--map", "timestamp=ts",
       "--map", "event=kind"]


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS)
    return path


def test_dataset_stats_values(events_csv: Path) -> None:
    ds = load_dataset(events_csv, mapping={"user_id": "customer", "item_id": "sku",
                                           "timestamp": "ts", "event": "kind"})
    s = dataset_stats(ds)
    assert (s["users"], s["items"], s["interactions"]) == (2, 3, 4)
    assert s["density"] == pytest.approx(4 / 6)
    assert s["sequence_length"] == {"min": 1, "median": 2.0, "mean": 2.0, "p90": 2.8, "max": 3}
    assert s["time_span"] == {"first": "2024-01-01 00:00:00", "last": "2024-01-03 00:00:00",
                              "days": 2.0}
    assert s["event_counts"] == {"view": 2, "purchase": 2}
    assert s["dropped"] == {"exact duplicate event": 1}
    assert s["source"] == {"rows": 5, "users": 2, "items": 3}


def test_stats_command_prints_counts_and_drops(events_csv: Path) -> None:
    result = runner.invoke(app, ["data", "stats", str(events_csv), *MAP])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "users" in out and "interactions" in out and "density" in out
    assert "66.6667%" in out
    assert "view 2, purchase 2" in out
    assert "exact duplicate event: 1" in out
    assert "2024-01-01 00:00:00 .. 2024-01-03 00:00:00" in out


def test_stats_on_a_sequence_folder_says_no_clock(tmp_path: Path) -> None:
    (tmp_path / "sequences.txt").write_text("U1 A B\nU2 B\n")
    (tmp_path / "items.csv").write_text("item_id,title\nA,Apple\nB,Banana\n")
    result = runner.invoke(app, ["data", "stats", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "no clock" in result.output
    assert "purchase 3" in result.output


def test_convert_then_load_gives_the_same_dataset(events_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "converted"
    result = runner.invoke(app, ["data", "convert", str(events_csv), str(out), *MAP])
    assert result.exit_code == 0, result.output
    assert "4 interactions" in result.output
    assert {p.name for p in out.iterdir()} == {"items.parquet", "interactions.parquet",
                                               "meta.json"}
    original = load_dataset(events_csv, mapping={"user_id": "customer", "item_id": "sku",
                                                 "timestamp": "ts", "event": "kind"})
    back = load_dataset(out)
    pd.testing.assert_frame_equal(original.interactions.events, back.interactions.events)
    pd.testing.assert_frame_equal(original.catalog.items, back.catalog.items)
    assert back.dropped.counts == original.dropped.counts and back.source == original.source
    again = runner.invoke(app, ["data", "stats", str(out)])
    assert again.exit_code == 0 and "exact duplicate event: 1" in again.output


def test_bad_input_exits_with_a_clear_message(events_csv: Path) -> None:
    result = runner.invoke(app, ["data", "stats", str(events_csv), "--map", "user_id=client"])
    assert result.exit_code == 2
    assert "field 'client': missing required column" in result.output
    result = runner.invoke(app, ["data", "stats", str(events_csv), "--map", "user_id"])
    assert result.exit_code == 2
    assert "expected FIELD=COLUMN" in result.output


def test_density_counts_distinct_pairs_not_events(tmp_path: Path) -> None:
    path = tmp_path / "views.csv"
    path.write_text("user_id,item_id,timestamp\nu,a,1\nu,a,2\nu,a,3\n")
    s = dataset_stats(load_dataset(path))
    assert s["interactions"] == 3
    assert s["density"] == 1.0  # one user, one item, one pair: not 300%
