"""Knowledge-graph fusion: attribute and co-occurrence neighbours mixed into the tower's LM
input, the same way in training and for a product added while serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.models.config import ItemTowerConfig
from shelflm.models.item_graph import attribute_means, cooccurrence, fused, linked
from tiny_artifact import COLD_ITEM, train_tiny


def _items() -> pd.DataFrame:
    return pd.DataFrame({"category": ["A", "A", "B", ""], "brand": ["x", "", "", ""]})


def test_an_item_moves_towards_its_category_and_brand() -> None:
    unit = np.eye(4, dtype=np.float32)
    means = attribute_means(_items(), unit)
    assert set(means["category"]) == {"A", "B"} and set(means["brand"]) == {"x"}
    out = fused(_items(), unit, 0.5, means)
    cat_a = (unit[0] + unit[1]) / 2
    assert np.allclose(out[0], 0.5 * unit[0] + 0.5 * (cat_a + unit[0]) / 2)  # A and brand x
    assert np.allclose(out[1], 0.5 * unit[1] + 0.5 * cat_a)
    assert np.allclose(out[2], unit[2]) and np.allclose(out[3], unit[3])  # alone / none
    assert fused(_items(), unit, 0.0, means) is unit
    blank = unit.copy()
    blank[1] = 0  # no text: stays without text
    assert not fused(_items(), blank, 0.5, means)[1].any()


def test_cooccurrence_takes_the_most_frequent_neighbours() -> None:
    unit = np.eye(4, dtype=np.float32)
    seqs = [np.array([0, 1, 0, 1]), np.array([0, 2]), np.array([3])]
    near = cooccurrence(seqs, unit, k=1)
    assert np.allclose(near[0], unit[1]) and np.allclose(near[2], unit[0])
    assert not near[3].any()  # never next to another item
    assert np.allclose(cooccurrence(seqs, unit, k=2)[0], (unit[1] + unit[2]) / 2)


def test_listed_links_are_one_more_relation() -> None:
    unit = np.eye(4, dtype=np.float32)
    items = _items().assign(attributes=[
        '{"complements": ["i1", 2], "substitutes": ["i3"]}',  # ids as strings or numbers
        '{"complements": ["gone"]}',  # not in the catalog: no link
        '{"complements": "i0"}', "not json"])  # not a list, malformed: no links
    ids = pd.Index(["i0", "i1", "2", "i3"])
    comp, subs = linked(items, ids, unit, ("complements", "substitutes"))
    assert np.allclose(comp[0], (unit[1] + unit[2]) / 2) and np.allclose(subs[0], unit[3])
    assert not comp[1:].any() and not subs[1:].any()
    out = fused(items, unit, 0.5, {}, [comp, subs])
    assert np.allclose(out[0], 0.5 * unit[0] + 0.5 * (comp[0] + subs[0]) / 2)
    assert np.allclose(out[1:], unit[1:])
    assert all(not a.any() for a in linked(items, ids, unit, ("other",)))


def test_serving_fuses_a_new_item_as_training_did(tmp_path: Path) -> None:
    from shelflm.serving.runtime import load_artifact

    tiny = train_tiny(tmp_path / "graph", items_config=ItemTowerConfig(
        hidden=16, id_dropout=0.3, graph=0.5, graph_cooccurrence=3))
    served = load_artifact(tiny.directory)
    cold = served.catalog.items.iloc[[COLD_ITEM]]  # no events: its category alone
    assert np.allclose(served.encode_items(cold)[0], served.item_vectors[COLD_ITEM], atol=1e-5)
    plain = tiny.rec.text_vectors[COLD_ITEM]
    assert not np.allclose(tiny.rec.tower_input(tiny.split.train)[COLD_ITEM], plain)


def test_a_new_product_is_fused_with_the_items_it_lists(tmp_path: Path) -> None:
    from shelflm.serving.runtime import load_artifact

    tiny = train_tiny(tmp_path / "links", items_config=ItemTowerConfig(
        hidden=16, graph=0.5, graph_cooccurrence=0, graph_links=("complements",)))
    served = load_artifact(tiny.directory)
    new = served.catalog.items.iloc[[COLD_ITEM]].assign(item_id="new")
    plain = served.encode_items(new)[0]
    with_links = served.encode_items(new.assign(attributes='{"complements": ["i0", "i3"]}'))[0]
    lips = served.item_vectors[[0, 3]].mean(0)
    assert not np.allclose(plain, with_links)
    assert with_links @ lips > plain @ lips  # moved towards the lipsticks it lists
