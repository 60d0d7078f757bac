"""Reports write Markdown, JSON and readable PNG files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shelflm.evaluation.plots import plot_learning_curves, plot_metric_bars, plot_periods
from shelflm.evaluation.report import markdown_table, read_epoch_log, write_report

RESULTS = {
    "popularity": {"hr@10": 0.05, "ndcg@10": 0.02, "cold_ndcg@10": 0.0, "warm_ndcg@10": 0.03},
    "itemknn": {"hr@10": 0.08, "ndcg@10": 0.045, "cold_ndcg@10": float("nan"),
                "warm_ndcg@10": 0.05},
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_markdown_table_has_a_row_per_model_and_bolds_the_best() -> None:
    table = markdown_table(RESULTS)
    lines = table.strip().splitlines()
    assert lines[0].startswith("| model | hr@10 | ndcg@10")
    assert len(lines) == 2 + len(RESULTS)
    assert "**0.0800**" in table and "**0.0450**" in table and "–" in table
    lower = markdown_table({"a": {"rmse": 0.9}, "b": {"rmse": 0.95}}, ["rmse"], {"rmse": False})
    assert "**0.9000**" in lower
    timed = markdown_table({"a": {"train_seconds": 5.0}, "b": {"train_seconds": 50.0}})
    assert "**5.0000**" in timed


def test_write_report_writes_markdown_and_valid_json(tmp_path: Path) -> None:
    paths = write_report(RESULTS, tmp_path, title="Tiny", notes="seed 0")
    assert paths["markdown"].read_text().startswith("# Tiny\n\nseed 0")
    data = json.loads(paths["json"].read_text())
    assert data["itemknn"]["hr@10"] == 0.08 and data["itemknn"]["cold_ndcg@10"] is None
    with pytest.raises(ValueError, match="no results"):
        markdown_table({})


def test_plots_write_png_files(tmp_path: Path) -> None:
    log = tmp_path / "epochs.jsonl"
    rows = [{"epoch": e, "train_loss": 2.0 / e, "valid_loss": 2.2 / e,
             "valid_ndcg@10": 0.01 * e} for e in range(1, 6)]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    curves = plot_learning_curves(log, tmp_path / "curves.png")
    bars = plot_metric_bars(RESULTS, tmp_path / "bars.png")
    for path in (curves, bars):
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000


def test_bad_log_lines_are_named(tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text('{"epoch": 1, "train_loss": 1.0}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_epoch_log(log)
    log.write_text('{"loss": 1.0}\n')
    with pytest.raises(ValueError, match="epoch"):
        read_epoch_log(log)


def test_the_periods_plot_draws_each_method(tmp_path: Path) -> None:
    rows = [{"period": p, "method": m, "next": 0.1 * p, "kept": None if p == 1 else 0.05}
            for m in ("finetune", "ours") for p in (1, 2, 3)]
    out = plot_periods(rows, tmp_path / "img" / "periods.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
