"""Free-text search ranks in the language model's text space, not the behaviour-trained
retrieval space: a question finds items by meaning, new items at once, and a known user's
taste re-ranks the text candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from hashing_model import HashingModel
from shelflm.serving.config import RulesConfig, ServingConfig, StoreConfig
from shelflm.serving.engine import Engine, Filters
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore
from shelflm.training.config import TrainConfig
from tiny_artifact import train_tiny

TITLES = ["hiking backpack 40 litre", "waterproof trail boots", "two person camping tent",
          "trekking poles carbon", "mechanical keyboard rgb", "wireless gaming mouse",
          "usb c docking station", "ultrawide computer monitor", "baby stroller lightweight",
          "toddler car seat", "baby bottle warmer", "nursery night light"]
CATEGORIES = ["Outdoor"] * 4 + ["Computers"] * 4 + ["Baby"] * 4
OUTDOOR = {f"i{k}" for k in range(4)}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """A tiny trained artifact whose behaviour says nothing about what hiking means."""
    rng = np.random.default_rng(0)
    # Shoppers mix groups at random, so the trained head learns no group semantics.
    rows = [(f"u{u}", f"i{k}", t, "view") for u in range(40)
            for t, k in enumerate(rng.choice(12, 4, replace=False))]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"])
    return train_tiny(tmp_path_factory.mktemp("art") / "model", TITLES, CATEGORIES, events,
                      TrainConfig(epochs=1, batch_size=16, progress=False), "gifts").directory


@pytest.fixture(scope="module")
def trained(artifact: Path, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "events.sqlite"
    engine = Engine.from_artifact(artifact, ServingConfig(store=StoreConfig(path=path)))
    yield engine
    engine.close()


@pytest.mark.slow
def test_a_question_finds_items_by_meaning(trained: Engine) -> None:
    ans = trained.search("a gift for a dad who hikes", 2)
    assert ans.source == "search" and {r.item_id for r in ans.items} <= OUTDOOR
    # Three: the default diversity cap allows three items of one leaf category.
    assert {r.item_id for r in trained.search("gear for a hiking trip", 3).items} <= OUTDOOR
    baby = trained.search("something for a newborn", 2, filters=Filters(category="Baby"))
    assert baby.items and all(r.category == "Baby" for r in baby.items)


@pytest.mark.slow
def test_new_item_is_searchable_at_once_and_gone_after_delete(trained: Engine) -> None:
    new = {"item_id": "n1", "title": "insulated mountain sleeping bag", "category": "Outdoor"}
    trained.upsert_items(pd.DataFrame([new]))
    got = [r.item_id for r in trained.search("sleeping bag for mountain camping", 3).items]
    assert got[0] == "n1"
    trained.delete_items(["n1"])
    assert "n1" not in {r.item_id for r in trained.search("sleeping bag", 12).items}


@pytest.mark.slow
def test_artifact_keeps_text_vectors_and_older_ones_get_them_on_load(artifact: Path,
                                                                     tmp_path: Path) -> None:
    import shutil

    from shelflm.serving.runtime import load_artifact

    served = load_artifact(artifact)
    saved = served.text_vectors
    assert saved.shape == (12, 384) and np.allclose(np.linalg.norm(saved, axis=1), 1, atol=1e-5)
    assert np.allclose(served.encode_item_texts(served.catalog.items.iloc[[2]]), saved[2],
                       atol=1e-5)
    old = Path(shutil.copytree(artifact, tmp_path / "old"))
    vectors = load_file(str(old / "item_vectors.safetensors"))
    del vectors["text_vectors"]  # the format before text vectors were saved
    save_file(vectors, str(old / "item_vectors.safetensors"))
    assert np.allclose(load_artifact(old).text_vectors, saved, atol=1e-5)


def test_personal_search_moves_toward_the_users_taste(model: HashingModel) -> None:
    engine = Engine(model, MemoryEventStore(), ServingConfig())
    engine.ingest([Event("u", "i13", "view", 1), Event("u", "i14", "view", 2)])  # face care
    plain = [r.item_id for r in engine.search("cream", 3).items]
    personal = engine.search("cream", 3, user_id="u")
    got = [r.item_id for r in personal.items]
    assert personal.source == "search+user" and set(got) == set(plain)  # same text candidates
    assert plain[0] == "i16"  # "curl cream conditioner" matches the words best
    assert got[:2] == ["i10", "i12"] or got[:2] == ["i12", "i10"]  # face creams rise


def test_query_weight_one_is_plain_text_search(model: HashingModel) -> None:
    engine = Engine(model, MemoryEventStore(),
                    ServingConfig(rules=RulesConfig(query_weight=1.0)))
    engine.ingest([Event("u", "i15", "purchase", 1)])
    plain = engine.search("face cream", 5)
    personal = engine.search("face cream", 5, user_id="u")
    assert [r.item_id for r in personal.items] == [r.item_id for r in plain.items]
    assert np.allclose([r.score for r in personal.items], [r.score for r in plain.items])
