"""Intent retrieval (issue 17): a shopper's free-text wish answered with products. Each
amazon-bundle bundle's annotated intent is the query, its items the relevant set, and the
whole domain catalog is ranked (Recall@10, binary NDCG@10).

    .venv/bin/python benchmarks/intent.py                    # 3 domains x seeds 0 1 2
    .venv/bin/python benchmarks/intent.py --domains food --seeds 0

Bundles are split by distinct intent (70% train / 30% test, seeded), so a test intent is
never seen in training. Methods: BM25 alone, the frozen MiniLM, hybrid (lexical weight
picked on the train bundles), the tuned query adaptor (fit on train intents only) and
tuned + hybrid; then the shopper's context (the session's other items, or the user's
earlier sessions' items) and two-turn conversations (intent A then intent B of one
session), decay and context size as AssistConfig serves them, its lexical and context
weights shown beside the picked ones. Scores come from the product: the item text vectors
as `item_text_vectors` makes them by default (TextSettings: "{title}", EncoderConfig()),
BM25 from shelflm.text.lexical and `serving.assist_scoring.conversation_scores`.

The tuned adaptor is in-sample on its own train intents, so the weights used with it are
picked on a dev fifth of the train intents with an adaptor fit on the other four fifths;
the adaptor then scored on test is refit on all train intents. Results: runs/intent/.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BUNDLES, RUNS, SHARED_DATA  # noqa: E402
from intent_cases import (  # noqa: E402
    Bundle,
    consecutive_pairs,
    flat,
    load_bundles,
    print_tables,
    recall_ndcg,
    split_by_intent,
    summarise,
    top_k,
)
from shelflm.data.loaders.amazon_bundle import load_amazon_bundle  # noqa: E402
from shelflm.encoders.encode import encode  # noqa: E402
from shelflm.models.item_text import TextSettings, unit_rows  # noqa: E402
from shelflm.models.query_tower import QueryTower  # noqa: E402
from shelflm.serving.assist_scoring import Turn, context_vector, conversation_scores  # noqa: E402
from shelflm.serving.stage_config import AssistConfig  # noqa: E402
from shelflm.text.lexical import LexicalIndex, hybrid, item_documents  # noqa: E402
from shelflm.text.templates import QueryTemplate, render_catalog  # noqa: E402
from shelflm.training.query_tuning import QueryTuningConfig, fit_query_tuner  # noqa: E402

LEXICAL_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
CONTEXT_GRID = (0.0, 0.1, 0.2, 0.3, 0.5)
ASSIST = AssistConfig()  # the served defaults: decay, context_items, and the weights shown
DECAY = ASSIST.decay
TUNING: dict = {}  # --tuning: QueryTuningConfig fields other than the seed
CONTEXTS = {"session": "session_context", "history": "history_context"}
PAIRED = (("MiniLM frozen", "BM25"), ("frozen + hybrid", "MiniLM frozen"),
          ("tuned adaptor", "MiniLM frozen"), ("tuned + hybrid", "frozen + hybrid"))


@dataclass
class Domain:
    """One domain's catalog vectors, BM25 scores of every query text, cases and costs."""

    name: str
    vectors: np.ndarray  # (items, 384) unit item text vectors
    bundles: list[Bundle]
    frozen: dict[str, np.ndarray]  # query text -> the frozen model's unit vector
    bm25: dict[str, np.ndarray]  # query text -> (items,) BM25 scores
    pairs: list[tuple[int, int]]
    stats: dict
    seconds: dict


def prepare(name: str) -> Domain:
    """Load a domain, encode its catalog and every query text, index and score BM25."""
    folder = SHARED_DATA / "amazon-bundle" / name
    dataset = load_amazon_bundle(folder)
    bundles, stats = load_bundles(folder, dataset.catalog.items["item_id"].tolist())
    pairs = consecutive_pairs(bundles)
    start = perf_counter()
    vectors = unit_rows(encode(render_catalog(dataset.catalog, TextSettings().template())))
    encoded = perf_counter()
    lexical = LexicalIndex(item_documents(dataset.catalog.items))
    indexed = perf_counter()
    texts = list(dict.fromkeys([b.intent for b in bundles] + [
        f"{bundles[a].intent}. {bundles[b].intent}" for a, b in pairs]))
    # One batch for all questions; serving encodes one at a time (same vectors to 1e-7).
    queries = unit_rows(encode([QueryTemplate().render(t) for t in texts]))
    queried = perf_counter()
    bm25 = {t: lexical.scores(t) for t in texts}
    stats.update(items=len(vectors), cases=len(bundles), pairs=len(pairs),
                 intents=len({b.intent for b in bundles}))
    seconds = {"encode_catalog": encoded - start, "bm25_index": indexed - encoded,
               "encode_queries": queried - indexed, "bm25_score": perf_counter() - queried}
    return Domain(name, vectors, bundles, dict(zip(texts, queries, strict=True)), bm25,
                  pairs, stats, seconds)


def evaluate(domain: Domain, positions: list[int], score) -> dict[str, float]:
    """Mean Recall@10 and NDCG@10 of `score(bundle)` over the bundles at `positions`."""
    if not positions:
        return {"recall@10": float("nan"), "ndcg@10": float("nan")}
    rows = []
    for pos in positions:
        relevant = set(domain.bundles[pos].rows)
        rows.append(recall_ndcg(top_k(score(domain.bundles[pos]), relevant), relevant))
    recall, ndcg = np.mean(rows, axis=0)
    return {"recall@10": float(recall), "ndcg@10": float(ndcg)}


def pick(domain: Domain, positions: list[int], scorer, grid) -> tuple[float, dict]:
    """The grid value whose `scorer(value)` has the best NDCG@10 on `positions` (ties: the
    first, i.e. the smallest), and every value's NDCG@10."""
    ndcg = {f"{v:g}": evaluate(domain, positions, scorer(v))["ndcg@10"] for v in grid}
    best = max(grid, key=lambda v: ndcg[f"{v:g}"])
    return best, ndcg


def hybrid_scorer(domain: Domain, queries: dict[str, np.ndarray]):
    """weight -> (bundle -> cosine + weight * scaled BM25 of its intent)."""
    return lambda w: lambda b: hybrid(domain.vectors @ queries[b.intent], domain.bm25[b.intent], w)


def tuned_queries(domain: Domain, train: list[int], seed: int) -> tuple[dict, dict]:
    """Fit the query adaptor on the train bundles' (intent, item) pairs; the tuned vector of
    every intent, and the fit's report (with its seconds)."""
    start = perf_counter()
    pairs = [(domain.bundles[i].intent, r) for i in train for r in domain.bundles[i].rows]
    fit = fit_query_tuner(pairs, domain.vectors, QueryTuningConfig(seed=seed, **TUNING))
    seconds = perf_counter() - start
    tower = QueryTower(fit.tuner)
    intents = {b.intent for b in domain.bundles}
    # As `shelflm assist fit`: no better held-out epoch, no tower; the frozen model serves.
    tuned = ({t: tower.encode(t, domain.frozen[t]) for t in intents} if fit.best_epoch
             else {t: domain.frozen[t] for t in intents})
    return tuned, {"pairs": fit.pairs, "queries": fit.queries, "best_epoch": fit.best_epoch,
                   "valid_recall": fit.valid_recall, "seconds": seconds}


def context_gain(domain: Domain, queries: tuple[dict, dict], weight: float,
                 pick_on: list[int], test: list[int], field: str) -> dict:
    """NDCG@10 / Recall@10 without and with the shopper's context (its newest
    AssistConfig.context_items items, as served) on the test bundles that have one; the
    context weight is picked on the `pick_on` bundles that have one, with the first query
    vectors of `queries` (the second score the test); also at AssistConfig.context_weight."""
    def scorer(vectors: dict):
        def by_weight(c: float):
            def score(b: Bundle) -> np.ndarray:
                rows = getattr(b, field)[-ASSIST.context_items:]
                assert not set(rows) & set(b.rows), f"bundle {b.bundle_id}: context leaks"
                return conversation_scores(
                    domain.vectors, [Turn(vectors[b.intent], domain.bm25[b.intent])],
                    decay=DECAY, lexical_weight=weight,
                    context=context_vector(domain.vectors, rows), context_weight=c)
            return score
        return by_weight

    pick_on = [i for i in pick_on if getattr(domain.bundles[i], field)]
    test = [i for i in test if getattr(domain.bundles[i], field)]
    best, picked = pick(domain, pick_on, scorer(queries[0]), CONTEXT_GRID)
    on_test = scorer(queries[1])
    without, with_ = evaluate(domain, test, on_test(0.0)), evaluate(domain, test, on_test(best))
    default = evaluate(domain, test, on_test(ASSIST.context_weight))
    return {"cases": len(test), "weight": best, "picked_on": picked, "without": without,
            "with": with_, "gain": {k: with_[k] - without[k] for k in without},
            "gain_at_default": {k: default[k] - without[k] for k in without}}


def two_turn(domain: Domain, weight: float, test: list[int]) -> dict:
    """After intent A then intent B of one session (B a test bundle), per way of remembering
    A: B's items in the top 10, B's Recall@10, A's items and A's items that are not B's
    (drift); over all cases and over those whose bundles share no item."""
    held = set(test)

    def turn(text: str) -> Turn:
        return Turn(domain.frozen[text], domain.bm25[text])

    ways = {"B alone": lambda a, b: [turn(b.intent)],
            f"blend d={DECAY:g}": lambda a, b: [turn(a.intent), turn(b.intent)],
            "concat 'A. B'": lambda a, b: [turn(f"{a.intent}. {b.intent}")]}
    cases = [(domain.bundles[a], domain.bundles[b]) for a, b in domain.pairs if b in held]
    disjoint = np.array([not set(a.rows) & set(b.rows) for a, b in cases], bool)
    out: dict = {"cases": len(cases), "cases_disjoint": int(disjoint.sum())}
    names = ("b_in_top10", "recall@10_b", "a_in_top10", "a_only_in_top10")
    for name, turns in ways.items():
        counts = []
        for a, b in cases:
            scores = conversation_scores(domain.vectors, turns(a, b), decay=DECAY,
                                         lexical_weight=weight)
            top, want, before = set(top_k(scores, set(b.rows)).tolist()), set(b.rows), set(a.rows)
            counts.append((len(top & want), len(top & want) / len(want), len(top & before),
                           len(top & (before - want))))
        counts = np.asarray(counts, np.float64).reshape(-1, 4)
        for subset, mask in (("all", slice(None)), ("disjoint", disjoint)):
            means = counts[mask].mean(0) if len(counts[mask]) else [float("nan")] * 4
            out.setdefault(subset, {})[name] = dict(zip(names, map(float, means), strict=True))
    return out


def run_seed(domain: Domain, seed: int) -> dict:
    """Every method of the protocol on one seed's split."""
    train, test = split_by_intent(domain.bundles, seed)
    fit_part, dev = split_by_intent(domain.bundles, 1000 + seed, 0.2, among=train)
    frozen = hybrid_scorer(domain, domain.frozen)
    w_frozen, on_train = pick(domain, train, frozen, LEXICAL_GRID)
    tuned_dev, fit_dev = tuned_queries(domain, fit_part, seed)
    w_tuned, on_dev = pick(domain, dev, hybrid_scorer(domain, tuned_dev), LEXICAL_GRID)
    tuned, fit = tuned_queries(domain, train, seed)
    methods = {"BM25": lambda b: domain.bm25[b.intent], "MiniLM frozen": frozen(0.0),
               "frozen + hybrid": frozen(w_frozen),
               f"frozen + hybrid {ASSIST.lexical_weight:g} (AssistConfig)":
                   frozen(ASSIST.lexical_weight),
               "tuned adaptor": hybrid_scorer(domain, tuned)(0.0),
               "tuned + hybrid": hybrid_scorer(domain, tuned)(w_tuned)}
    context = {variant: {
        "frozen + hybrid": context_gain(domain, (domain.frozen, domain.frozen), w_frozen,
                                        train, test, field),
        "tuned + hybrid": context_gain(domain, (tuned_dev, tuned), w_tuned, dev, test, field)}
        for variant, field in CONTEXTS.items()}
    scored = {n: evaluate(domain, test, s) for n, s in methods.items()}
    return {"train": len(train), "test": len(test), "dev": len(dev),
            "weights": {"frozen + hybrid": w_frozen, "tuned + hybrid": w_tuned},
            "picked_on": {"frozen (train)": on_train, "tuned (dev)": on_dev},
            "methods": scored, "paired": {f"{a} - {b}": {
                k: scored[a][k] - scored[b][k] for k in scored[a]} for a, b in PAIRED},
            "context": context, "two_turn": two_turn(domain, w_frozen, test),
            "fits": {"dev": fit_dev, "train": fit}}



def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--domains", nargs="+", default=list(BUNDLES), choices=BUNDLES)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", default="intent", help="results folder under runs/")
    p.add_argument("--tuning", type=json.loads, default={}, help="QueryTuningConfig fields "
                   "as JSON, e.g. '{\"method\": \"lora\", \"lr\": 3e-4}'")
    args = p.parse_args()
    torch.set_num_threads(1)
    out_dir = RUNS / args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, summaries, seconds = {}, {}, {}
    TUNING.update(args.tuning)
    for name in args.domains:
        start = perf_counter()
        domain = prepare(name)
        runs[name] = [{"seed": s, **run_seed(domain, s)} for s in args.seeds]
        fits = [r["fits"][k]["seconds"] for r in runs[name] for k in r["fits"]]
        seconds[name] = {**domain.seconds, "adaptor_fit_mean": float(np.mean(fits)),
                         "domain_total": perf_counter() - start}
        summaries[name] = summarise(runs[name])
        payload = {"domain": name, "seeds": args.seeds, "decay": DECAY,
                   "text": TextSettings().to_dict(), "data": domain.stats,
                   "seconds": seconds[name], "summary": summaries[name], "runs": runs[name]}
        (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2))
        print(f"{name}: {domain.stats}; seconds {seconds[name]}", flush=True)
    if len(runs) > 1:  # per seed, the mean over domains; then its spread over seeds
        per_seed = [{k: float(np.mean([flat(runs[d][i])[k] for d in runs]))
                     for k in flat(runs[args.domains[0]][i])} for i in range(len(args.seeds))]
        summaries["mean"] = summarise(per_seed)
        (out_dir / "mean.json").write_text(json.dumps(
            {"domains": args.domains, "seeds": args.seeds, "summary": summaries["mean"]},
            indent=2))
    print_tables(summaries, runs, CONTEXTS, f"blend d={DECAY:g}")
    print("\n| domain | encode catalog s | encode queries s | BM25 index s | BM25 scoring s "
          "| adaptor fit s (mean) | domain total s |\n|---|---|---|---|---|---|---|")
    for name, t in seconds.items():
        print(f"| {name} | {t['encode_catalog']:.1f} | {t['encode_queries']:.1f} "
              f"| {t['bm25_index']:.2f} | {t['bm25_score']:.2f} | {t['adaptor_fit_mean']:.1f} "
              f"| {t['domain_total']:.0f} |")


if __name__ == "__main__":
    main()
