"""`shelflm train --model cross-encoder` over a retrieval artifact, then `shelflm evaluate` of
both stages side by side, and the refusals that name what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.data.project_format import write_project_dataset

runner = CliRunner()
SMALL = ("[ranker]\ncandidates = 6\nnegatives = 2\ncases = 30\n"
         "[ranker.model]\nmax_length = 64\n[ranker.training]\nepochs = 1\nbatch_size = 8\n")


@pytest.mark.slow
def test_a_ranker_trains_over_an_artifact_and_evaluates_beside_it(
        tiny_trained, trained_artifact: Path, tmp_path: Path) -> None:
    data = write_project_dataset(tiny_trained.dataset, tmp_path / "data")
    config = tmp_path / "run.toml"
    config.write_text(SMALL)
    out = tmp_path / "ranker"
    trained = runner.invoke(app, ["train", str(data), "--model", "cross-encoder", "--retrieval",
                                  str(trained_artifact), "--out", str(out), "--config",
                                  str(config)])
    assert trained.exit_code == 0, trained.output
    fit = json.loads(trained.stdout.splitlines()[-1])
    assert fit["pairs"] > 0 and fit["test_pairs"] > 0 and fit["test_bce"] > 0
    assert (out / "model.int8.onnx").is_file() and (out / "weights.safetensors").is_file()
    assert fit["onnx_max_diff"] < 1e-4 and fit["int8_max_diff"] < 0.1
    recorded = json.loads((out / "config.json").read_text())
    assert (out / recorded["retrieval"]).resolve() == trained_artifact.resolve()
    result = runner.invoke(app, ["evaluate", str(out), str(data)])
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout)
    assert set(both) == {"retrieval", "reranked"}
    assert both["reranked"]["num_cases"] == both["retrieval"]["num_cases"] > 0
    # Reranking reorders retrieval's top 6 only: whatever it hits in its top 10 it must
    # have found among retrieval's top 6 or kept from retrieval's ranks 7-10.
    assert both["reranked"]["hr@5"] <= both["retrieval"]["hr@10"]


def test_a_ranker_needs_a_retrieval_artifact(project_shop: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(project_shop), "--model", "cross-encoder",
                                 "--out", str(tmp_path / "r")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "--retrieval" in result.output
    wrong = runner.invoke(app, ["train", str(project_shop), "--model", "cross-encoder",
                                "--retrieval", str(tmp_path), "--out", str(tmp_path / "r")],
                          env={"COLUMNS": "300"})
    assert wrong.exit_code == 2 and "not a retrieval artifact" in wrong.output
