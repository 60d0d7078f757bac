"""The cases of the intent-retrieval benchmark (benchmarks/intent.py), pure pandas and numpy:
amazon-bundle bundles with their intent, item rows, session and the shopper's context; the
split by distinct intent; consecutive bundle pairs of a session; set-based Recall / NDCG;
the summary over seeds and its markdown tables.

The released folders lack session_bundle.csv, so a bundle is put in the session whose items
hold all of the bundle's items; a bundle that fits several sessions (about 1% of them) is
left without one (no context, no pair). Bundles of a session keep bundle-id order (ids of a
session's bundles are consecutive in the release).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.loaders.amazon_bundle import load_bundle_intents


@dataclass(frozen=True)
class Bundle:
    """One case: the shopper's stated intent, the bundle's catalog rows and their context."""

    bundle_id: str
    intent: str
    rows: tuple[int, ...]
    session: str | None  # None: no session or several sessions hold all its items
    session_context: tuple[int, ...]  # the session's other items (never this bundle's)
    history_context: tuple[int, ...]  # items of the user's strictly earlier sessions


def intent_key(text: str) -> str:
    """The intent as the split compares it: lower case, single spaces ("Tea" == "tea ")."""
    return re.sub(r"\s+", " ", text.strip().lower())


def _sessions(folder: Path, row_of: dict[str, int]) -> dict[str, list[int]]:
    """Catalog rows of each session's items in file order (untitled items left out)."""
    table = pd.read_csv(folder / "session_item.csv", dtype=str)
    out: dict[str, list[int]] = defaultdict(list)
    for session, item in zip(table["session ID"].str.strip(), table["item ID"].str.strip(),
                             strict=True):
        if item in row_of and row_of[item] not in out[session]:
            out[session].append(row_of[item])
    return out


def _earlier(folder: Path, sessions: dict[str, list[int]]) -> dict[str, list[int]]:
    """Per session, the catalog rows of its user's sessions on strictly earlier days."""
    table = pd.read_csv(folder / "user_session.csv", dtype=str)
    table["t"] = table["timestamp"].astype(np.int64)
    out: dict[str, list[int]] = {}
    for _, visits in table.groupby("user ID"):
        pairs = list(zip(visits["session ID"].str.strip(), visits["t"], strict=True))
        for session, t in pairs:
            rows = [r for s, u in pairs if u < t for r in sessions.get(s, [])]
            out[session] = list(dict.fromkeys(rows))
    return out


def load_bundles(folder: Path, item_ids: list[str]) -> tuple[list[Bundle], dict[str, int]]:
    """The domain's bundles with a non-empty intent, in bundle-id order, and counts of what
    was dropped or left without a session (item_ids: catalog row order)."""
    row_of = {item: row for row, item in enumerate(item_ids)}
    raw = load_bundle_intents(folder)
    sessions, holders = _sessions(folder, row_of), defaultdict(set)
    for session, rows in sessions.items():
        for row in rows:
            holders[row].add(session)
    earlier = _earlier(folder, sessions)
    stats = {"bundles": len(raw), "empty_intent": 0, "untitled_item": 0, "no_session": 0,
             "ambiguous_session": 0, "history_leak_removed": 0}
    out = []
    for bundle_id, intent, items in zip(raw["bundle_id"], raw["intent"], raw["items"],
                                        strict=True):
        if not isinstance(intent, str) or not intent.strip():
            stats["empty_intent"] += 1
            continue
        if not items or any(i not in row_of for i in items):
            stats["untitled_item"] += 1
            continue
        rows = tuple(dict.fromkeys(row_of[i] for i in items))
        found = set.intersection(*(holders[r] for r in rows))
        stats["no_session"] += not found
        stats["ambiguous_session"] += len(found) > 1
        session = next(iter(found)) if len(found) == 1 else None
        own = set(rows)
        past = earlier.get(session, []) if session else []
        stats["history_leak_removed"] += sum(r in own for r in past)
        out.append(Bundle(str(bundle_id), intent.strip(), rows, session,
                          tuple(r for r in sessions.get(session, []) if r not in own),
                          tuple(r for r in past if r not in own)))
    out.sort(key=lambda b: int(b.bundle_id) if b.bundle_id.isdigit() else b.bundle_id)
    return out, stats


def split_by_intent(bundles: list[Bundle], seed: int, test_share: float = 0.3,
                    among: list[int] | None = None) -> tuple[list[int], list[int]]:
    """(kept, held-out) bundle positions of `among` (default all): a seeded `test_share` of
    the distinct intent keys is held out, so a held-out intent never appears in the kept."""
    among = list(range(len(bundles))) if among is None else among
    keys = sorted({intent_key(bundles[i].intent) for i in among})
    order = np.random.default_rng(seed).permutation(len(keys))
    held = {keys[k] for k in order[: int(round(test_share * len(keys)))]}
    kept = [i for i in among if intent_key(bundles[i].intent) not in held]
    return kept, [i for i in among if intent_key(bundles[i].intent) in held]


def consecutive_pairs(bundles: list[Bundle]) -> list[tuple[int, int]]:
    """(A, B) positions of bundles following each other in one session (bundle-id order)."""
    by_session: dict[str, list[int]] = defaultdict(list)
    for pos, bundle in enumerate(bundles):
        if bundle.session is not None:
            by_session[bundle.session].append(pos)
    return [(a, b) for members in by_session.values()
            for a, b in zip(members, members[1:], strict=False)]


def top_k(scores: np.ndarray, relevant: set[int], k: int = 10) -> np.ndarray:
    """The k best rows of `scores`; ties put relevant rows last (a constant score finds
    nothing), as evaluation.metrics.target_ranks does for one target."""
    is_relevant = np.zeros(len(scores), bool)
    is_relevant[list(relevant)] = True
    return np.lexsort((is_relevant, -scores))[:k]


def recall_ndcg(top: np.ndarray, relevant: set[int]) -> tuple[float, float]:
    """Recall@k and binary NDCG@k of a top-k list (ideal DCG over min(|relevant|, k))."""
    hits = np.array([int(r) in relevant for r in top], np.float64)
    discounts = 1.0 / np.log2(np.arange(len(top)) + 2.0)
    ideal = discounts[: min(len(relevant), len(top))].sum()
    return float(hits.sum() / len(relevant)), float((hits * discounts).sum() / ideal)


def spread(values: list[float]) -> dict[str, float]:
    """Mean, min and max of per-seed values."""
    arr = np.asarray(values, np.float64)
    return {"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max())}


def flat(tree: dict, prefix: str = "") -> dict[str, float]:
    """Nested results as {"a/b/c": number} (numbers only)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def summarise(per_seed: list[dict]) -> dict[str, dict]:
    """Mean and min..max over seeds of every number the seeds share."""
    rows = [flat(r) for r in per_seed]
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: spread([r[k] for r in rows]) for k in keys}


def cell(summary: dict, key: str, signed: bool = False) -> str:
    """'mean (min..max)' of one summarised number."""
    s = summary[key]
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(s['mean'])} ({f.format(s['min'])}..{f.format(s['max'])})"


def print_tables(summaries: dict[str, dict], runs: dict[str, list[dict]], contexts: dict,
                 blend: str) -> None:
    """The markdown tables: retrieval, paired gains, picked weights, context, two turns."""
    _retrieval_tables(summaries, runs, contexts)
    _context_tables(summaries, contexts, blend)


def _retrieval_tables(summaries: dict[str, dict], runs: dict[str, list[dict]],
                      contexts: dict) -> None:
    print("\n| domain | method | Recall@10 | NDCG@10 |\n|---|---|---|---|")
    for name, s in summaries.items():
        for m in runs[next(iter(runs))][0]["methods"]:
            print(f"| {name} | {m} | {cell(s, f'methods/{m}/recall@10')} "
                  f"| {cell(s, f'methods/{m}/ndcg@10')} |")
    print("\n| domain | paired per seed | NDCG@10 gain | Recall@10 gain |\n|---|---|---|---|")
    for name, s in summaries.items():
        for pair in runs[next(iter(runs))][0]["paired"]:
            print(f"| {name} | {pair} | {cell(s, f'paired/{pair}/ndcg@10', True)} "
                  f"| {cell(s, f'paired/{pair}/recall@10', True)} |")
    print("\n| domain | seed | test cases | lexical weight frozen (train) "
          "| lexical weight tuned (dev) | context c session frozen/tuned "
          "| context c history frozen/tuned | adaptor best epoch dev/train "
          "|\n|---|---|---|---|---|---|---|---|")
    for name, per_seed in runs.items():
        for r in per_seed:
            c = {v: "/".join(f"{r['context'][v][b]['weight']:g}" for b in r["context"][v])
                 for v in contexts}
            print(f"| {name} | {r['seed']} | {r['test']} | {r['weights']['frozen + hybrid']:g} "
                  f"| {r['weights']['tuned + hybrid']:g} | {c['session']} | {c['history']} "
                  f"| {r['fits']['dev']['best_epoch']}/{r['fits']['train']['best_epoch']} |")


def _context_tables(summaries: dict[str, dict], contexts: dict, blend: str) -> None:
    print("\n| domain | context | base | test cases | NDCG@10 without | with | gain "
          "| Recall@10 gain | NDCG@10 gain at AssistConfig c "
          "|\n|---|---|---|---|---|---|---|---|---|")
    for name, s in summaries.items():
        for v in contexts:
            for b in ("frozen + hybrid", "tuned + hybrid"):
                k = f"context/{v}/{b}"
                print(f"| {name} | {v} | {b} | {s[k + '/cases']['mean']:.0f} "
                      f"| {cell(s, k + '/without/ndcg@10')} | {cell(s, k + '/with/ndcg@10')} "
                      f"| {cell(s, k + '/gain/ndcg@10', True)} "
                      f"| {cell(s, k + '/gain/recall@10', True)} "
                      f"| {cell(s, k + '/gain_at_default/ndcg@10', True)} |")
    print("\n| domain | cases | after turn B | B items in top 10 | Recall@10 of B "
          "| A items in top 10 | A-only items in top 10 |\n|---|---|---|---|---|---|---|")
    for name, s in summaries.items():
        for subset in ("all", "disjoint"):
            n = s[f"two_turn/cases{'' if subset == 'all' else '_disjoint'}"]["mean"]
            for way in ("B alone", blend, "concat 'A. B'"):
                k = f"two_turn/{subset}/{way}"
                print(f"| {name} | {subset} {n:.0f} | {way} | {cell(s, k + '/b_in_top10')} "
                      f"| {cell(s, k + '/recall@10_b')} | {cell(s, k + '/a_in_top10')} "
                      f"| {cell(s, k + '/a_only_in_top10')} |")
