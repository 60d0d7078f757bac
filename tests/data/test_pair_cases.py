"""History-candidate cases: the windows, the labels, the user order, and TALLRec's MovieLens
cases reproduced exactly from ml-100k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelflm.data.loaders import load_dataset
from shelflm.data.pair_cases import pair_cases
from shelflm.data.schema import Catalog, Dataset, Interactions


def _shop() -> Dataset:
    events = pd.DataFrame({"user_id": ["b"] * 4 + ["a"] * 3,
                           "item_id": ["i0", "i1", "i2", "i3", "i1", "i2", "i0"],
                           "timestamp": [4, 1, 2, 3, 1, 2, 3],
                           "value": [5, 1, 4, 2, 3, 4, 5]})
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": [f"i{k}" for k in range(4)],
                                               "title": list("ABCD")}))
    return Dataset("toy", catalog, Interactions.from_frame(events))


def test_each_position_after_the_history_is_a_case() -> None:
    data = _shop()
    cases = pair_cases(data, history=2, user_order=["b", "a"])
    ids = data.catalog.ids
    # b in time order: i1(1) i2(4) i3(2) i0(5); a: i1(3) i2(4) i0(5)
    assert [list(ids[h]) for h in cases.history] == [["i1", "i2"], ["i2", "i3"], ["i1", "i2"]]
    assert list(ids[cases.target]) == ["i3", "i0", "i0"]
    assert cases.history_liked.tolist() == [[False, True], [True, False], [False, True]]
    assert cases.liked.tolist() == [False, True, True] and cases.rating.tolist() == [2, 5, 5]
    assert list(data.user_ids[cases.users]) == ["b", "b", "a"]
    assert len(pair_cases(data, history=3)) == 1 and len(pair_cases(data, history=4)) == 0
    with pytest.raises(ValueError, match="user_order"):
        pair_cases(data, 2, user_order=["nobody"])


def _tallrec_prompt(titles: np.ndarray, history: np.ndarray, liked: np.ndarray,
                    target: int) -> str:
    like = ", ".join(f'"{titles[j]}"' for j, ok in zip(history, liked, strict=True) if ok)
    dislike = ", ".join(f'"{titles[j]}"' for j, ok in zip(history, liked, strict=True) if not ok)
    return (f"User Preference: {like}\nUser Unpreference: {dislike}\n"
            f'Whether the user will like the target movie "{titles[target]}"?')


@pytest.mark.slow
@pytest.mark.shared_data
def test_tallrec_cases_equal_the_published_files(shared_data: Path) -> None:
    data = load_dataset(shared_data / "ml-100k")
    raw = pd.read_csv(shared_data / "ml-100k" / "u.data", sep="\t", header=None, dtype=str)
    cases = pair_cases(data, 10, 3.0, list(dict.fromkeys(raw[0])))
    last = cases.take(slice(len(cases) - 10_000, None))
    titles = data.catalog.items["title"].to_numpy()
    for name, part in (("valid", last.take(slice(8000, 9000))),
                       ("test", last.take(slice(9000, 10_000)))):
        published = json.loads((shared_data / "tallrec-movie" / f"{name}.json").read_text())
        ours = [{"input": _tallrec_prompt(titles, h, hl, t), "output": "Yes." if y else "No."}
                for h, hl, t, y in zip(part.history, part.history_liked, part.target,
                                       part.liked, strict=True)]
        assert ours == [{"input": p["input"], "output": p["output"]} for p in published], name
