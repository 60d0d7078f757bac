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


def test_a_trained_model_scores_another_catalog_from_text(artifact: Path) -> None:
    from shelflm.data.schema import Catalog
    from shelflm.serving.runtime import load_artifact

    served = load_artifact(artifact)
    own = served.catalog.items
    assert served.on_catalog(served.catalog) is served
    changed = own.iloc[[0, 1]].assign(title=[own.title.iloc[0], "a different title"])
    new = pd.DataFrame([{"item_id": "n1", "title": "argan hair oil", "category": "Hair"}])
    moved = served.on_catalog(Catalog.from_frame(pd.concat([changed, new])))
    assert list(moved.catalog.ids) == [own.item_id.iloc[0], own.item_id.iloc[1], "n1"]
    assert (moved.item_vectors[0] == served.item_vectors[0]).all()  # trained, same text
    fresh = served.encode_items(moved.catalog.items.iloc[1:])
    assert abs(moved.item_vectors[1:] - fresh).max() < 1e-5  # text alone, as a new item
    assert abs(moved.text_vectors[2] - served.encode_item_texts(new)[0]).max() < 1e-5
    assert moved.user_vector(moved.item_vectors[:2], pd.Series([0, 0]).to_numpy()).shape == (
        served.dim,)


def test_the_engine_serves_a_new_shop_from_its_catalog_alone(artifact: Path,
                                                             tmp_path: Path) -> None:
    shop = tmp_path / "shop.csv"
    pd.DataFrame({"item_id": ["s1", "s2", "s3", "s4"], "price": ["3.5", "", "9", "12"],
                  "title": ["argan hair oil", "hair mask repair", "red lipstick",
                            "lip liner pencil"]}).to_csv(shop, index=False)
    engine = Engine.from_artifact(artifact, ServingConfig(
        store=StoreConfig(path=tmp_path / "events.sqlite"), catalog=shop))
    assert engine.info()["items"] == 4
    engine.ingest([Event("u", "s3", "view", 1)])
    ans = engine.recommend("u", 2)
    assert ans.source == "personal" and {r.item_id for r in ans.items} <= {"s1", "s2", "s4"}
    hair = {r.item_id for r in engine.search("oil for my hair", 2).items}
    assert hair == {"s1", "s2"}  # the new shop's text vectors answer questions
    engine.upsert_items(pd.DataFrame([{"item_id": "s5", "title": "lip gloss"}]))
    assert "s5" in {r.item_id for r in engine.recommend("u", 4).items}  # used at once
    with pytest.raises(Exception, match="line 3.*price|price.*line 3"):
        bad = tmp_path / "bad.csv"
        bad.write_text("item_id,title,price\na,x,1\nb,y,cheap\n")
        Engine.from_artifact(artifact, ServingConfig(catalog=bad))
    engine.close()
