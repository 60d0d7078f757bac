"""Every VectorIndex backend passes the same contract."""

from __future__ import annotations

import numpy as np
import pytest

from shelflm.serving.config import IndexConfig
from shelflm.serving.index import VectorIndex, make_index
from shelflm.serving.index.faiss_index import ExactFaissIndex, HnswFaissIndex

DIM = 16


def _backends() -> dict[str, callable]:
    hnsw = IndexConfig(kind="hnsw", hnsw_m=8, ef_construction=40, ef_search=64,
                       exact_below_allowed=0.0)
    return {"exact": lambda: ExactFaissIndex(DIM), "hnsw": lambda: HnswFaissIndex(DIM, hnsw)}


@pytest.fixture(params=list(_backends()))
def index(request) -> VectorIndex:
    return _backends()[request.param]()


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_is_a_vector_index(index: VectorIndex) -> None:
    assert isinstance(index, VectorIndex)


def test_empty_index_returns_nothing(index: VectorIndex) -> None:
    keys, scores = index.search(np.ones(DIM, np.float32), 5)
    assert len(keys) == 0 and len(scores) == 0 and len(index) == 0


def test_finds_each_vector_first_with_its_key(index: VectorIndex) -> None:
    vecs = _unit(200)
    keys = np.arange(1000, 1200)
    index.upsert(keys, vecs)
    assert len(index) == 200
    for i in (0, 57, 199):
        got, scores = index.search(vecs[i], 3)
        assert got[0] == keys[i]
        assert scores[0] == pytest.approx(1.0, abs=1e-4)
        assert np.all(np.diff(scores) <= 1e-6)  # best first


def test_k_larger_than_index_returns_all(index: VectorIndex) -> None:
    index.upsert(np.arange(5), _unit(5))
    keys, _ = index.search(_unit(1, 9)[0], 50)
    assert sorted(keys.tolist()) == [0, 1, 2, 3, 4]


def test_update_replaces_the_vector(index: VectorIndex) -> None:
    vecs = _unit(50)
    index.upsert(np.arange(50), vecs)
    index.upsert(np.array([7]), vecs[30:31])  # key 7 now looks like key 30
    got, _ = index.search(vecs[7], 1)
    assert got[0] != 7
    got, _ = index.search(vecs[30], 2)
    assert set(got.tolist()) == {7, 30}
    assert len(index) == 50


def test_remove_hides_keys(index: VectorIndex) -> None:
    vecs = _unit(50)
    index.upsert(np.arange(50), vecs)
    assert index.remove(np.array([3, 4, 999])) == 2
    got, _ = index.search(vecs[3], 50)
    assert 3 not in got and 4 not in got and len(got) == 48
    assert len(index) == 48


def test_filtered_search_only_returns_allowed_keys(index: VectorIndex) -> None:
    vecs = _unit(300)
    index.upsert(np.arange(300), vecs)
    allowed = np.zeros(300, bool)
    allowed[::3] = True
    got, _ = index.search(vecs[1], 10, allowed)  # the nearest (key 1) is not allowed
    assert len(got) == 10 and np.all(got % 3 == 0)
    allowed_short = np.zeros(10, bool)  # keys past the mask's end count as not allowed
    allowed_short[2] = True
    got, _ = index.search(vecs[250], 5, allowed_short)
    assert got.tolist() == [2]


def test_filter_hiding_only_the_nearest_keys_still_returns_k(index: VectorIndex) -> None:
    vecs = _unit(300)
    index.upsert(np.arange(300), vecs)
    nearest, _ = index.search(vecs[0], 20)
    allowed = np.ones(300, bool)
    allowed[nearest[:15]] = False
    got, scores = index.search(vecs[0], 5, allowed)
    assert got.tolist() == nearest[15:].tolist()
    assert np.all(np.diff(scores) <= 1e-6)


def test_many_removals_keep_answers_right(index: VectorIndex) -> None:
    """HNSW rebuilds its graph once tombstones pile up; answers stay exact for survivors."""
    vecs = _unit(120)
    index.upsert(np.arange(120), vecs)
    index.remove(np.arange(0, 100))
    assert len(index) == 20
    for i in (100, 119):
        got, _ = index.search(vecs[i], 1)
        assert got[0] == i


def test_rejects_bad_shapes(index: VectorIndex) -> None:
    with pytest.raises(ValueError, match="vectors"):
        index.upsert(np.arange(3), np.zeros((3, DIM + 1), np.float32))
    with pytest.raises(ValueError, match="duplicates"):
        index.upsert(np.array([1, 1]), np.zeros((2, DIM), np.float32))


def test_make_index_picks_hnsw_above_threshold() -> None:
    cfg = IndexConfig(kind="auto", hnsw_above=100)
    assert isinstance(make_index(cfg, DIM, 50), ExactFaissIndex)
    assert isinstance(make_index(cfg, DIM, 500), HnswFaissIndex)
    wide = IndexConfig(kind="auto", hnsw_above=100)  # 100 items of 64 columns
    assert isinstance(make_index(wide, 64, 100), ExactFaissIndex)
    assert isinstance(make_index(wide, 640, 20), HnswFaissIndex)  # 10x wider: 10x the scan


def test_item_table_grows_in_place_and_keeps_rows() -> None:
    import pandas as pd

    from shelflm.serving.items import ItemTable

    table = ItemTable(2, 3)

    def add(i: int) -> None:
        frame = pd.DataFrame([{"item_id": f"x{i}", "title": f"t{i}", "category": "",
                               "attributes": "", "price": 1.0}])
        row = np.full((1, 2), i, np.float32)
        table.upsert(frame, row, np.full((1, 3), i, np.float32))

    add(0)
    add(1)
    buffer = table._buffers["vectors"]
    for i in range(2, 40):
        add(i)
    assert table._buffers["vectors"] is buffer  # no reallocation while there is room
    assert table.vectors.shape == (40, 2) and table.text.shape == (40, 3)
    assert np.array_equal(table.vectors[:, 0], np.arange(40)) and table.text[39, 2] == 39
