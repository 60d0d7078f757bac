"""`shelflm assist`: fit tunes an artifact's query encoder on (query, item) pairs and the
assistant then reads questions through it; chat holds a conversation in the terminal."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelflm.cli import app
from shelflm.serving.assist import AssistQuery
from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine

runner = CliRunner()
pytestmark = pytest.mark.slow
# Words the language model cannot know: only the pairs say what they mean.
SLANG = {"zorblax": ["i0", "i1", "i2", "i3"], "quendle": ["i4", "i5", "i6", "i7"],
         "frimble": ["i8", "i9", "i10"]}


def _pairs(path: Path) -> Path:
    rows = [f"{word} {suffix},{item}" for word, items in SLANG.items()
            for suffix in ("", "please", "for me", "gift", "now", "set") for item in items]
    path.write_text("query,item_id\n" + "\n".join(rows) + "\n")
    return path


def test_fit_tunes_the_query_tower_and_the_assistant_uses_it(tmp_path: Path,
                                                             trained_artifact: Path) -> None:
    artifact = shutil.copytree(trained_artifact, tmp_path / "model")
    result = runner.invoke(app, ["assist", "fit", str(_pairs(tmp_path / "pairs.csv")),
                                 "--artifact", str(artifact), "--lr", "1e-2", "--epochs", "20"])
    assert result.exit_code == 0, result.output
    assert "held-out recall@10" in result.output and (artifact / "query").is_dir()
    engine = Engine.from_artifact(artifact, replace(ServingConfig(), store=StoreConfig("memory")))
    answer = engine.assistant.turn(AssistQuery("quendle", k=4))
    assert engine.assistant.stats()["query_tower"] == "adaptor"
    assert len({i.item_id for i in answer.items} & set(SLANG["quendle"])) >= 3


def test_fit_refuses_a_pairs_file_without_its_columns(tmp_path: Path,
                                                      trained_artifact: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,item\nboots,i1\n")
    result = runner.invoke(app, ["assist", "fit", str(bad), "--artifact", str(trained_artifact)])
    assert result.exit_code == 2 and "query" in result.output


def test_chat_holds_one_conversation(trained_artifact: Path) -> None:
    result = runner.invoke(app, ["assist", "chat", str(trained_artifact), "-m", "lipstick",
                                 "-m", "not that brand", "-m", "hair oil instead", "-k", "3"])
    assert result.exit_code == 0, result.output
    assert "turn 3: lipstick / hair oil" in result.output
    assert "no brand recorded" in result.output
