"""The intent benchmark's cases and metrics (benchmarks/intent_cases.py) on hand-made data."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest


def _benchmark_module(name: str):
    """A benchmarks/ module loaded from its file: putting benchmarks/ on sys.path would
    shadow tests' own packages (benchmarks/serving.py against tests/serving)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


_cases = _benchmark_module("intent_cases")
consecutive_pairs, intent_key, load_bundles = (_cases.consecutive_pairs, _cases.intent_key,
                                               _cases.load_bundles)
recall_ndcg, split_by_intent, top_k = _cases.recall_ndcg, _cases.split_by_intent, _cases.top_k


def _write(folder: Path, name: str, header: str, rows: list[str]) -> None:
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture()
def domain(tmp_path: Path) -> Path:
    """Items a..g; session s1 (user u, day 1) holds bundles 0 and 1, s2 (day 2) bundle 2;
    s0 (day 2, another user) also holds e and f, so bundle 2 fits two sessions."""
    _write(tmp_path, "bundle_intent.csv", "bundle ID,intent",
           ["0,Tea", "1,coffee", "2,cups", '3,""'])
    _write(tmp_path, "bundle_item.csv", "bundle ID,item ID",
           ["0,a", "0,b", "1,b", "1,c", "2,e", "2,f", "3,a", "3,g"])
    _write(tmp_path, "session_item.csv", "session ID,item ID",
           ["s1,a", "s1,b", "s1,c", "s1,d", "s1,x", "s2,a", "s2,e", "s2,f", "s0,e", "s0,f"])
    _write(tmp_path, "user_session.csv", "user ID,session ID,timestamp",
           ["u,s1,100", "u,s2,200", "v,s0,200"])
    return tmp_path


def test_bundles_get_their_session_context_without_their_own_items(domain: Path) -> None:
    bundles, stats = load_bundles(domain, list("abcdefg"))
    assert [b.bundle_id for b in bundles] == ["0", "1", "2"]
    assert stats["empty_intent"] == 1 and stats["ambiguous_session"] == 1
    tea, coffee, cups = bundles
    assert tea.rows == (0, 1) and tea.session == "s1"
    assert tea.session_context == (2, 3)  # c, d: x has no title, a and b are the bundle's
    assert coffee.session_context == (0, 3)
    assert tea.history_context == ()  # s1 is the user's first session
    assert cups.session is None and cups.session_context == () == cups.history_context
    assert consecutive_pairs(bundles) == [(0, 1)]


def test_split_keeps_held_out_intents_out_of_the_kept_part() -> None:
    class B:  # only the intent is read
        def __init__(self, intent: str) -> None:
            self.intent = intent

    bundles = [B(t) for t in ["Tea", "tea ", "Coffee", "cups", "mugs", "milk", "TEA"] * 3]
    for seed in range(5):
        kept, held = split_by_intent(bundles, seed)
        assert sorted(kept + held) == list(range(len(bundles)))
        assert not {intent_key(bundles[i].intent) for i in kept} & {
            intent_key(bundles[i].intent) for i in held}
    assert intent_key("  Tea\tCups ") == "tea cups"


def test_recall_and_ndcg_with_several_relevant_items() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.0])
    top = top_k(scores, {0, 2, 4}, k=3)
    assert top.tolist() == [0, 1, 2]
    recall, ndcg = recall_ndcg(top, {0, 2, 4})
    assert recall == pytest.approx(2 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_ties_put_relevant_items_last() -> None:
    top = top_k(np.zeros(20), {0, 1}, k=10)
    assert not {0, 1} & set(top.tolist())
    assert recall_ndcg(top, {0, 1}) == (0.0, 0.0)
