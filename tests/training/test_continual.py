"""Updates without forgetting: chosen exemplars, the grown catalog, carried ID rows and the
distillation term, on the shared tiny artifact and small hand-made event tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from shelflm.data.schema import Catalog
from shelflm.models.artifact import read_artifact
from shelflm.models.item_tower import ItemTower
from shelflm.models.shelf_model import ShelfModel
from shelflm.training.continual import (
    Distiller,
    carry_item_rows,
    choose_exemplars,
    grown_catalog,
)
from shelflm.training.step import step_inputs
from shelflm.training.transfer import init_from_artifact


def _events(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return frame.assign(event="view", value=1.0)


def test_exemplars_cover_items_within_the_budget() -> None:
    rows = [("a", f"i{k}", k) for k in range(4)]  # 4 items in 4 events
    rows += [("b", "i0", k) for k in range(4)]  # 1 item in 4 events: covers nothing new
    rows += [("c", "i9", 1), ("c", "i8", 2)]  # 2 new items in 2 events
    chosen = choose_exemplars(_events(rows), budget=6, window=50)
    assert set(chosen["user_id"]) == {"a", "c"}  # 6 items, not the repetitive b
    assert len(chosen) <= 6
    assert choose_exemplars(_events(rows), budget=0, window=50).empty
    window = choose_exemplars(_events(rows), budget=100, window=2)
    assert window.groupby("user_id").size().max() == 2  # each user's last 2 events
    assert (window[window.user_id == "a"]["item_id"] == ["i2", "i3"]).all()


def test_the_grown_catalog_keeps_old_rows_in_order_and_adds_new_ones(tiny_trained) -> None:
    old = tiny_trained.dataset.catalog
    new = Catalog.from_frame(pd.DataFrame({"item_id": ["n1", "i3"],
                                           "title": ["wool socks", "a new title"]}))
    grown = grown_catalog(old, new)
    assert list(grown.ids) == [*old.ids, "n1"]
    assert grown.items.set_index("item_id").loc["i3", "title"] == "a new title"


def _child(directory, catalog: Catalog, text_vectors: np.ndarray) -> ShelfModel:
    parent = read_artifact(directory)
    config = parent.model.config
    tower = ItemTower(config.items, len(catalog), text_vectors, np.zeros(len(catalog)))
    model = ShelfModel(config, tower)
    init_from_artifact(model, directory)
    return model


def test_an_update_starts_where_the_parent_was(tiny_trained, trained_artifact) -> None:
    """Carried ID rows and weights: the child scores as the parent did, so the
    distillation term is zero; new items are scored by the parent's text head."""
    torch.manual_seed(0)
    rec, dataset = tiny_trained.rec, tiny_trained.dataset
    extra = Catalog.from_frame(pd.DataFrame({"item_id": ["n1"], "title": ["argan hair oil"]}))
    catalog = grown_catalog(dataset.catalog, extra)
    text = np.vstack([rec.text_vectors, rec.text_vectors[[6]]])  # n1: i6's text
    child = _child(trained_artifact, catalog, text).eval()
    assert carry_item_rows(child, trained_artifact, catalog) == len(dataset.catalog)
    parent = read_artifact(trained_artifact)
    assert torch.equal(child.item_tower.has_id[:-1], parent.model.item_tower.has_id)
    assert child.item_tower.has_id[-1] == 0  # new: no ID part yet
    distill = Distiller(trained_artifact, catalog, text, weight=1.0)
    alone = parent.model.item_tower.encode_text_vectors(torch.from_numpy(text[[6]]))[0]
    assert torch.allclose(distill.table[-1], alone.detach(), atol=1e-5)  # text alone
    with torch.no_grad():
        table = child.item_tower.all_items()
        seqs = [np.array([0, 1, 2]), np.array([4, 5, 12])]
        batch = step_inputs(child, seqs, [np.zeros(3, np.int64)] * 2, "cpu")
        user = child.states(batch.items, batch.events, table)[batch.where]
        assert float(distill(batch, user, table)) < 1e-4
        assert float(distill(batch, user + torch.randn_like(user), table)) > 1e-3


def test_distillation_over_a_sampled_steps_rows(tiny_trained, trained_artifact) -> None:
    """A sampled step distils over the rows it encoded; with no text path (an ID-only
    parent), items the parent never saw are left out instead of refused."""
    rec, dataset = tiny_trained.rec, tiny_trained.dataset
    extra = Catalog.from_frame(pd.DataFrame({"item_id": ["n1"], "title": ["argan hair oil"]}))
    catalog = grown_catalog(dataset.catalog, extra)
    text = np.vstack([rec.text_vectors, rec.text_vectors[[6]]])
    child = _child(trained_artifact, catalog, text).eval()
    carry_item_rows(child, trained_artifact, catalog)
    distill = Distiller(trained_artifact, catalog, None, weight=1.0)
    assert distill.known is not None and not distill.known[-1] and distill.known[:-1].all()
    rows = torch.tensor([0, 2, 5, 12, len(catalog) - 1])
    with torch.no_grad():
        table = child.item_tower.all_items()
        batch = step_inputs(child, [np.array([0, 1, 2]), np.array([4, 5, 12])],
                            [np.zeros(3, np.int64)] * 2, "cpu")
        user = child.states(batch.items, batch.events, table)[batch.where]
        assert float(distill(batch, user, table[rows], rows)) < 1e-4
        assert float(distill(batch, user + torch.randn_like(user), table[rows], rows)) > 1e-3
        with pytest.raises(ValueError, match="pass the rows"):
            distill(batch, user, table[rows])
