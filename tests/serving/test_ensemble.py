"""Several models served as one inner product: per-user z-scores, weights, offsets and item
gates (the cold-item ensemble), checked against the scores computed the long way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashing_model import HashingModel, load_hashing_artifact, save_hashing_artifact
from shelflm.serving.config import ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.ensemble import Ensemble, Member, load_ensemble, write_ensemble
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore

TRAINED = {f"i{k}" for k in range(14)}  # i14..i19 had no training events


@pytest.fixture
def catalog(model: HashingModel):
    return model.catalog  # the serving tests' 20-item catalog


def _z(scores: np.ndarray) -> np.ndarray:
    return (scores - scores.mean()) / scores.std()


def _members(catalog) -> list[HashingModel]:
    return [HashingModel(catalog, dim=16, seed=1), HashingModel(catalog, dim=24, seed=2)]


def test_the_score_is_each_members_z_score_on_the_items_its_gate_admits(catalog) -> None:
    models = _members(catalog)
    members = [Member("members/a", "trained", weight=2.0),
               Member("members/b", "untrained", offset=0.5)]
    ens = Ensemble(models, members, TRAINED)
    assert ens.score_dim == (16 + 1) + (24 + 1) and ens.dim == ens.score_dim + 16 + 24
    history, events = [3, 15, 7], np.array([0, 1, 0])
    scores = ens.item_vectors @ ens.user_vector(ens.item_vectors[history], events)
    z = [_z(m.item_vectors @ m.user_vector(m.item_vectors[history], events)) for m in models]
    trained = np.array([f"i{k}" in TRAINED for k in range(len(catalog))])
    want = np.where(trained, 2.0 * z[0], z[1] + 0.5)  # each user tower saw every history row
    assert np.allclose(scores, want, atol=1e-4)
    assert not ens.user_vector(np.zeros((0, ens.dim), np.float32), events[:0]).any()
    with pytest.raises(ValueError, match="history must be"):
        ens.user_vector(ens.item_vectors[history, :5], events)


def test_a_plain_blend_adds_weighted_z_scores(catalog) -> None:
    models = _members(catalog)
    ens = Ensemble(models, [Member("members/a", weight=0.3), Member("members/b")], set())
    assert ens.dim == ens.score_dim == 16 + 1 + 24 + 1  # no gate: no shadow
    history, events = [0, 1], np.zeros(2, np.int64)
    scores = ens.item_vectors @ ens.user_vector(ens.item_vectors[history], events)
    z = [_z(m.item_vectors @ m.user_vector(m.item_vectors[history], events)) for m in models]
    assert np.allclose(scores, 0.3 * z[0] + z[1], atol=1e-4)


def test_new_and_changed_items_are_scored_as_untrained(catalog) -> None:
    models = _members(catalog)
    ens = Ensemble(models, [Member("members/a", "trained"), Member("members/b", "untrained")],
                   set(TRAINED))
    changed = catalog.items.iloc[[2]]  # a trained item whose text the shop edits
    new = pd.DataFrame([{"item_id": "n1", "title": "red matte lipstick",
                         "category": "Beauty > Makeup > Lips"}])
    rows = ens.encode_items(pd.concat([changed, new]))
    start_b = 16 + 1
    assert (rows[:, :17] == 0).all() and (rows[:, start_b + 24] == 1).all()
    assert "i2" not in ens.trained
    assert np.allclose(rows[1, start_b:start_b + 24], models[1].encode_items(new)[0])


def test_members_must_share_a_catalog_and_gates_are_checked(catalog) -> None:
    other = HashingModel(type(catalog).from_frame(catalog.items.iloc[:5]), dim=8)
    with pytest.raises(ValueError, match="catalog differs"):
        Ensemble([HashingModel(catalog, dim=8), other],
                 [Member("members/a"), Member("members/b")], set())
    with pytest.raises(ValueError, match="items 'new'"):
        Member("members/a", "new")


def test_an_ensemble_directory_is_served_by_the_engine(catalog, tmp_path: Path) -> None:
    sources = []
    for k, model in enumerate(_members(catalog)):
        sources.append(save_hashing_artifact(model, tmp_path / f"m{k}"))
    members = [Member("members/a", "trained"), Member("members/b", "untrained", offset=1.0)]
    out = write_ensemble(tmp_path / "ens", sources, members, TRAINED, {"fit": {"offset": 1.0}})
    assert json.loads((out / "config.json").read_text())["format"] == "shelflm-ensemble"
    ens = load_ensemble(out, load_hashing_artifact)
    engine = Engine(ens, MemoryEventStore(), ServingConfig())
    engine.ingest([Event("u", "i0", "view", 1), Event("u", "i1", "view", 2)])
    assert engine.recommend("u", 3).source == "personal"
    engine.upsert_items(pd.DataFrame([{"item_id": "n1", "title": "red matte lipstick",
                                       "category": "Beauty > Makeup > Lips"}]))
    assert "n1" in {r.item_id for r in engine.recommend("u", 5).items}  # new, on its footing
    assert engine.info()["dim"] == ens.dim and engine.similar("i0", 3).items
    bad = json.loads((out / "config.json").read_text())
    bad["members"][0]["path"] = "../m0"
    (out / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="not under members/"):
        load_ensemble(out, load_hashing_artifact)
