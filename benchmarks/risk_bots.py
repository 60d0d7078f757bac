"""Bots on e-commerce data: the risk model (training/risk.py, default RiskConfig) against 100
bots injected into held-out shoppers of the Online Retail sample, beside pyod's IForest and
ECOD on the same features; --cost times its scoring.

Per seed, customers are split 50/50; one half trains the behaviour model (ShelfConfig, a
--budget) and fits the risk model; 100 bots join the other: 34 burst bots (150-400 purchases
in 1-2 minutes on random items, the shop's quantities), 33 card testers (20-60 purchases of
quantity 1 of 1-3 of the 20 cheapest items, 2-60 s apart), 33 scrapers (views of 500 to all
items in catalog order, 1-3 s apart), anywhere in the data's time span; "camouflaged", the
same bots start at a real purchase's time, minute-floored like the data. Too few events
(None) rank last; ties at the top-100 cut count their expected share. --cost: ms per user in
batch (score_users) and live (serving's RiskGuard, 200 users one by one), online retail
(seed 0's behaviour model) and ML-100K (runs/artifacts/ml100k-carry-base-s0).

    .venv/bin/python benchmarks/risk_bots.py --seeds 0 1 2
    .venv/bin/python benchmarks/risk_bots.py --cost
    .venv/bin/python benchmarks/risk_bots.py --report
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RUNS,
    SHARED_DATA,
    load_ml100k,
    risk_config,
    risk_tag,
    use_risk_detector,
    write_result,
)
from shelflm.data.loaders import load_dataset  # noqa: E402
from shelflm.data.schema import INTERACTION_COLUMNS  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.models.risk import RiskModel, score_users  # noqa: E402
from shelflm.models.risk_signals import ModelView, user_features  # noqa: E402
from shelflm.serving.risk import RiskGuard  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.serving.stage_config import RiskGuardConfig  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402
from shelflm.settings import ShelfConfig  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402
from shelflm.training.risk import fit_risk  # noqa: E402

RETAIL = SHARED_DATA / "online-retail-sample"
KINDS = {"burst": 34, "card": 33, "scraper": 33}
K = 100


def halves(events: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events of a seeded half of the users, and of the other half (str columns)."""
    events = events[list(INTERACTION_COLUMNS)].astype({"user_id": str, "item_id": str,
                                                       "event": str})
    users = np.sort(events["user_id"].unique())
    train = set(np.random.default_rng(seed).permutation(users)[: len(users) // 2])
    mask = events["user_id"].isin(train)
    return events[mask], events[~mask]


def behaviour_model(dataset: object, train: pd.DataFrame, seed: int, budget: float,
                    directory: Path) -> object:
    """The default shelflm model trained on `train`'s events, saved, loaded as served."""
    cfg = ShelfConfig()
    cfg = replace(cfg, training=replace(cfg.training, seed=seed, progress=False,
                                        time_budget_s=budget))
    half = dataset.with_interactions(train, f"{dataset.name}-train")
    rec = build_model("shelflm", half, cfg)
    fit_and_evaluate(rec, cfg.data.splitter().split(half))
    save_artifact(rec, directory, dataset.catalog, rec.text_settings)
    return load_artifact(directory)


def one_bot(kind: str, rng: np.random.Generator, shop: dict) -> pd.DataFrame:
    """One bot's events (timestamps from 0): item ids, seconds, event type, values."""
    ids = shop["ids"]
    if kind == "burst":
        n = int(rng.integers(150, 401))
        t = np.sort(rng.integers(0, int(rng.integers(60, 121)), n))
        items, event, value = rng.choice(ids, n), "purchase", rng.choice(shop["quantities"], n)
    elif kind == "card":
        n = int(rng.integers(20, 61))
        t = np.cumsum(rng.integers(2, 61, n)) - 2
        picks = rng.choice(shop["cheapest"], int(rng.integers(1, 4)), replace=False)
        items, event, value = rng.choice(picks, n), "purchase", np.ones(n)
    else:
        n = int(rng.integers(500, len(ids) + 1))
        start = int(rng.integers(0, len(ids) - n + 1))
        t = np.cumsum(rng.integers(1, 4, n)) - 1
        items, event, value = ids[start:start + n], "view", np.ones(n)
    return pd.DataFrame({"item_id": items, "timestamp": t, "event": event, "value": value})


def inject(shop: dict, seed: int, camouflage: bool) -> pd.DataFrame:
    """The 100 bots' events; `camouflage`: start at a real purchase time, minute-floored."""
    rng = np.random.default_rng(1000 + seed)
    lo, hi = shop["span"]
    frames = []
    for kind, count in KINDS.items():
        for i in range(count):
            bot = one_bot(kind, rng, shop)
            last = hi - int(bot["timestamp"].max())
            start = (min(int(rng.choice(shop["times"])), last) if camouflage
                     else int(rng.integers(lo, last + 1)))
            bot["timestamp"] = bot["timestamp"] + start
            if camouflage:
                bot["timestamp"] = bot["timestamp"] // 60 * 60
            frames.append(bot.assign(user_id=f"bot-{kind}-{i:02d}"))
    return pd.concat(frames, ignore_index=True)[list(INTERACTION_COLUMNS)]


def in_top(score: np.ndarray, mask: np.ndarray, k: int = K) -> float:
    """Expected number of `mask` rows among the k highest scores, ties broken at random."""
    cut = np.sort(score)[::-1][k - 1]
    above, tie = score > cut, score == cut
    return float((mask & above).sum() + (k - above.sum()) * (mask & tie).sum() / tie.sum())


def ranking(score: np.ndarray, kinds: np.ndarray) -> dict:
    """precision / recall at K, ROC-AUC and recall at K per bot kind."""
    from sklearn.metrics import roc_auc_score

    bad = kinds != "real"
    hits = in_top(score, bad)
    out = {"p@100": hits / K, "r@100": hits / bad.sum(), "auc": roc_auc_score(bad, score)}
    return out | {f"r@100_{k}": in_top(score, kinds == k) / (kinds == k).sum() for k in KINDS}


def ranked(score: float | None) -> float:  # too few events (None): below every score
    return -1.0 if score is None else score


def kinds_of(users: list[str]) -> np.ndarray:  # burst / card / scraper / real
    return np.array([u.split("-")[1] if u.startswith("bot-") else "real" for u in users])


def flags(flagged: np.ndarray, kinds: np.ndarray) -> dict:
    """precision / recall / F1 of the flags, and recall per bot kind."""
    bad = kinds != "real"
    tp = int((flagged & bad).sum())
    prec, rec = tp / max(flagged.sum(), 1), tp / bad.sum()
    return {"flag_precision": prec, "flag_recall": rec, "flagged": int(flagged.sum()),
            "flag_f1": 2 * prec * rec / max(prec + rec, 1e-12),
            "real_flagged": int((flagged & ~bad).sum())} | {
        f"flag_recall_{k}": float(flagged[kinds == k].mean()) for k in KINDS}


def product(model: RiskModel, scores: list, features: pd.DataFrame, counts: pd.Series) -> dict:
    """The risk model's `scores` of a population in one batch, and each user's score alone
    (`features` row by row), as serving's RiskGuard scores a live user."""
    kinds = kinds_of([s.user_id for s in scores])
    assert [s.user_id for s in scores] == list(features.index)
    score = np.array([ranked(s.score) for s in scores])
    out = ranking(score, kinds) | flags(np.array([s.flagged for s in scores]), kinds)
    out |= {"users": len(scores), "unscored": int(sum(s.score is None for s in scores))}
    real = score[(kinds == "real") & (score >= 0)]  # calibrated: ~1 - t of them at or above t
    out |= {f"real_at_{t}": float((real >= t).mean()) for t in (0.5, 0.9, 0.99)}
    for kind in (*KINDS, "real"):
        out[f"reasons_{kind}"] = dict(Counter(  # the reasons given to bots / flagged shoppers
            r["feature"] for s, k in zip(scores, kinds, strict=True) if k == kind
            and (kind != "real" or s.flagged) for r in s.reasons).most_common(5))
    alone = [model.scores(features.iloc[[i]], counts)[0] for i in range(len(features))]
    one = np.array([ranked(s.score) for s in alone])
    out["alone"] = ranking(one, kinds) | flags(np.array([s.flagged for s in alone]), kinds)
    out["alone"]["max_abs_change"] = float(np.abs(one - score).max())
    return out


def baselines(model: RiskModel, features: pd.DataFrame, seed: int) -> dict:
    """pyod's IForest and ECOD (defaults) fitted on the calibration features, and the
    features that alone separate each bot kind from the real users."""
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from sklearn.metrics import roc_auc_score

    kinds = kinds_of(list(features.index))
    x = features[model.feature_names].to_numpy(np.float64)
    out: dict = {"separating": {}}  # features whose value alone ranks a kind apart (AUC>=.95)
    for kind in KINDS:
        keep = (kinds == kind) | (kinds == "real")
        auc = [roc_auc_score(kinds[keep] == kind, col) for col in x[keep].T]
        out["separating"][kind] = {n: round(max(a, 1 - a), 3) for n, a in
                                   zip(model.feature_names, auc, strict=True)
                                   if max(a, 1 - a) >= 0.95}
    for name, det in (("iforest", IForest(random_state=seed)), ("ecod", ECOD())):
        det.fit(model.calibration.features)
        out[name] = ranking(det.decision_function(x), kinds)
    # ECOD's decision_function ranks a batch on the tails of train AND batch: also row by row
    out["ecod_alone"] = ranking(np.array([det.decision_function(r[None])[0] for r in x]), kinds)
    return out


def retail_shop(dataset: object, train: pd.DataFrame) -> dict:
    """What the bots are made of: catalog ids, cheapest items, quantities, time span."""
    items = dataset.catalog.items
    ids = items["item_id"].astype(str).to_numpy()
    cheapest = items.sort_values("price", kind="stable")["item_id"].astype(str).to_numpy()[:20]
    ts = dataset.interactions.events["timestamp"]
    return {"ids": ids, "cheapest": cheapest, "quantities": train["value"].to_numpy(),
            "span": (int(ts.min()), int(ts.max())), "times": train["timestamp"].to_numpy()}


def source_hash() -> str:
    """Which version of the product's risk code ran (it was changing while measured)."""
    files = ["data/behaviour.py", "models/risk.py", "models/risk_config.py",
             "models/risk_signals.py", "training/risk.py", "serving/risk.py"]
    src = RUNS.parent / "src" / "shelflm"
    return hashlib.sha256(b"".join((src / f).read_bytes() for f in files)).hexdigest()[:12]


def run(seed: int, budget: float) -> dict:
    """One seed: behaviour model and risk model on one half, bots in the other."""
    dataset = load_dataset(RETAIL)
    train, test = halves(dataset.interactions.events, seed)
    directory = RUNS / "artifacts" / f"retail-risk-s{seed}"
    started = time.perf_counter()
    view = ModelView.of(behaviour_model(dataset, train, seed, budget, directory))
    out = {"seed": seed, "source": source_hash(), "train_users": train["user_id"].nunique(),
           "test_users": test["user_id"].nunique(),
           "behaviour_seconds": time.perf_counter() - started}
    started = time.perf_counter()
    model = fit_risk(train, dataset.catalog, view, risk_config(), model_version=f"s{seed}")
    model.save(directory / "risk")
    out["risk_fit_seconds"] = time.perf_counter() - started
    out["calibration_users"] = len(model.calibration.features)
    # The product's other detector ([risk] detector), on the same calibration users.
    forest = RiskModel(replace(model.config, detector="iforest"), model.reference,
                       replace(model.calibration, raw=None), model.feature_names)
    shop = retail_shop(dataset, train)
    for variant in ("injected", "camouflaged"):
        started = time.perf_counter()
        population = pd.concat([test, inject(shop, seed, variant == "camouflaged")])
        features, counts, _ = user_features(population, model.reference, view, model.config,
                                            model.calibration.reference_vectors)
        out[variant] = {
            "product": product(model, score_users(model, population, view), features, counts),
            "product_iforest": product(forest, forest.scores(features, counts), features,
                                       counts), **baselines(model, features, seed)}
        out[variant]["seconds"] = time.perf_counter() - started
    return out


def quiet_box(limit: float = 1.5, tries: int = 6, wait: float = 45) -> tuple[float, bool]:
    """Wait (a few times) for the 1-minute load to drop under `limit`: (load, busy)."""
    for _ in range(tries):
        load = os.getloadavg()[0]
        if load <= limit:
            return load, False
        time.sleep(wait)
    return os.getloadavg()[0], True


def time_scoring(model: RiskModel, directory: Path, test: pd.DataFrame, view: ModelView,
                 live_users: int = 200) -> dict:
    """Batch seconds per user (score_users over `test`) and live ms per user (RiskGuard)."""
    users = test["user_id"].unique()
    out: dict = {"users": len(users), "events": len(test), "load_busy_batch": quiet_box()}
    started = time.perf_counter()
    batch = {s.user_id: s.score for s in score_users(model, test, view)}
    out["batch_ms_per_user"] = 1000 * (time.perf_counter() - started) / len(users)
    guard = RiskGuard(RiskGuardConfig(model=directory), directory)
    pick = np.random.default_rng(0).choice(users, min(live_users, len(users)), replace=False)
    by_user = {u: [Event(r.user_id, r.item_id, r.event, int(r.timestamp), float(r.value))
                   for r in rows.itertuples()] for u, rows in
               test[test["user_id"].isin(set(pick))].groupby("user_id")}
    guard.score(pick[0], by_user[pick[0]], view)  # warm-up, not timed
    out["load_busy_live"] = quiet_box()
    ms, diff = [], []
    for user in pick:
        started = time.perf_counter()
        live = guard.score(user, by_user[user], view)["score"]
        ms.append(1000 * (time.perf_counter() - started))
        diff.append(abs(ranked(live) - ranked(batch[user])))
    out["load_after"] = os.getloadavg()[0]
    out |= {"live_users": len(ms), "live_median_ms": float(np.median(ms)),
            "live_p99_ms": float(np.percentile(ms, 99)), "live_vs_batch_max": max(diff),
            "live_vs_batch_median": float(np.median(diff)),
            "live_events_median": float(np.median([len(by_user[u]) for u in pick]))}
    return out


def cost() -> None:
    """Scoring time on online retail (seed 0's behaviour model, bots injected) and on
    ML-100K, each with a risk model fitted on a seeded half of the users."""
    retail, ml = load_dataset(RETAIL), load_ml100k()
    out: dict = {"source": source_hash()}
    for name, data, artifact in (("online-retail", retail, "retail-risk-s0"),
                                 ("ml-100k", ml, "ml100k-carry-base-s0")):
        train, test = halves(data.interactions.events, 0)
        if data is retail:
            test = pd.concat([test, inject(retail_shop(data, train), 0, False)])
        view = ModelView.of(load_artifact(RUNS / "artifacts" / artifact).on_catalog(data.catalog))
        started = time.perf_counter()
        model = fit_risk(train, data.catalog, view, risk_config())
        fitted = time.perf_counter() - started
        directory = model.save(RUNS / "artifacts" / f"risk-cost-{name}")
        out[name] = time_scoring(model, directory, test, view) | {"risk_fit_seconds": fitted}
        print(json.dumps(out[name]), flush=True)
    write_result(f"risk-bots{risk_tag()}-cost", out)


def _table(title: str, cols: list[str], got: dict[str, list[dict]]) -> None:
    """A markdown table: a row per name, mean ± std over its dicts of each column."""
    print(f"\n| {title} | " + " | ".join(cols) + " |\n" + "|---" * (len(cols) + 1) + "|")
    for name, runs in got.items():
        print(f"| {name} | " + " | ".join(
            f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}"
            for v in ([r[c] for r in runs] for c in cols)) + " |")


def report() -> None:
    """Mean ± std over seeds of the detection runs, and the cost run."""
    found = sorted((RUNS / "results").glob(f"risk-bots{risk_tag()}-s*.json"))
    rows = [json.loads(p.read_text()) for p in found]
    for v in ("injected", "camouflaged"):
        print(f"\n### {v} bots, seeds {[r['seed'] for r in rows]}, "
              f"product source {sorted({r['source'] for r in rows})}")
        got = {"product (batch)": [r[v]["product"] for r in rows],
               "product (each user alone)": [r[v]["product"]["alone"] for r in rows],
               "product, detector=iforest (batch)": [r[v]["product_iforest"] for r in rows],
               "product, detector=iforest (alone)": [r[v]["product_iforest"]["alone"]
                                                     for r in rows],
               "pyod IForest": [r[v]["iforest"] for r in rows],
               "pyod ECOD": [r[v]["ecod"] for r in rows],
               "pyod ECOD (each user alone)": [r[v]["ecod_alone"] for r in rows]}
        _table("detector", ["p@100", "r@100", "auc", *(f"r@100_{k}" for k in KINDS)], got)
        _table("flags at 0.99", ["flag_precision", "flag_recall", "flag_f1", "flagged",
                                 "real_flagged", *(f"flag_recall_{k}" for k in KINDS),
                                 "real_at_0.5", "real_at_0.9", "real_at_0.99"],
               {k: got[k] for k in ("product (batch)", "product, detector=iforest (batch)")})
        for r in rows:
            p = r[v]["product"]
            print(f"\ns{r['seed']}: {p['users']} users ({p['unscored']} unscored), "
                  f"{r['calibration_users']} calibration users, {r['behaviour_seconds']:.0f} s "
                  f"behaviour model, {r[v]['seconds']:.0f} s scoring; batch vs alone max |diff| "
                  f"{p['alone']['max_abs_change']:.3f}; reasons: "
                  + "; ".join(f"{k} {p[f'reasons_{k}']}" for k in (*KINDS, "real"))
                  + f"; one feature alone separates (AUC): {r[v]['separating']}")
    path = RUNS / "results" / f"risk-bots{risk_tag()}-cost.json"
    print("\n| data | users | batch ms/user | live median / p99 ms | live vs batch score, max "
          "abs diff | 1-min load batch / live / after | busy |\n" + "|---" * 7 + "|")
    for name, c in json.loads(path.read_text()).items() if path.exists() else ():
        if isinstance(c, dict):
            (load_b, busy_b), (load_l, busy_l) = c["load_busy_batch"], c["load_busy_live"]
            print(f"| {name} | {c['users']} | {c['batch_ms_per_user']:.2f} | "
                  f"{c['live_median_ms']:.1f} / {c['live_p99_ms']:.1f} | "
                  f"{c['live_vs_batch_max']:.3f} | {load_b:.2f} / {load_l:.2f} / "
                  f"{c['load_after']:.2f} | {busy_b or busy_l} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--budget", type=float, default=120, help="seconds per behaviour model")
    p.add_argument("--cost", action="store_true", help="time scoring instead")
    p.add_argument("--report", action="store_true")
    p.add_argument("--detector", default=None, help="[risk] detector (default: "
                   "RiskConfig's); results get a -DETECTOR suffix")
    args = p.parse_args()
    use_risk_detector(args.detector)
    torch.set_num_threads(1)
    if args.cost:
        cost()
    elif not args.report:
        for seed in args.seeds:
            result = run(seed, args.budget)
            write_result(f"risk-bots{risk_tag()}-s{seed}", result)
            print(json.dumps(result), flush=True)
    report()


if __name__ == "__main__":
    main()
