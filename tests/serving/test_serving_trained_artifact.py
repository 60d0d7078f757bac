"""The engine on a real (tiny) trained artifact through the default loader, load_artifact:
the trained model plugs in where the hashing model stood, text path included."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shelflm.serving.config import ServingConfig, StoreConfig
from shelflm.serving.engine import Engine
from shelflm.serving.store import Event

pytestmark = pytest.mark.slow


@pytest.fixture
def artifact(trained_artifact: Path) -> Path:
    return trained_artifact


def test_engine_serves_a_trained_artifact(artifact: Path, tmp_path: Path) -> None:
    engine = Engine.from_artifact(artifact, ServingConfig(
        store=StoreConfig(path=tmp_path / "events.sqlite")))
    assert engine.info()["items"] == 12 and engine.recommend("new", 3).source == "popular"
    engine.ingest([Event("u", "i4", "view", 1), Event("u", "i5", "purchase", 2)])
    ans = engine.recommend("u", 4)
    assert ans.source == "personal" and len(ans.items) == 4
    assert "i5" not in {r.item_id for r in ans.items}  # bought
    assert all(r.because["item_id"] in {"i4", "i5"} for r in ans.items)
    engine.upsert_items(pd.DataFrame([{"item_id": "n1", "title": "argan hair oil",
                                       "category": "Hair"}]))
    assert engine.similar("i6", 1).items[0].item_id == "n1"  # same text, same vector
    assert "n1" in {r.item_id for r in engine.search("argan hair oil", 2).items}
    engine.close()
