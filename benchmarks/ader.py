"""The continual-learning benchmark of ADER (RecSys 2020) on ../shared/data/diginetica-periods.

17 weekly periods of DIGINETICA click sessions, IDs only. For p = 1..16 each method has a
model made with period p-1 (plus what it keeps from before), tested on period p: every
prefix of every session predicts the session's next click, ranked against the model's
whole catalog (nothing masked, as ADER; a target the model never saw is a miss).
Recall@20 and MRR@20 are averaged over the 16 periods. Methods (ID-only shelflm, the
SASRec-style user tower ADER also uses; [data] temporal split: each window's last 10% of
events validate the early stopping):
- finetune: from its previous model, period p-1's events only;
- ours: `shelflm update`'s code (training/continual.py fit_update): period p-1's events, the
  exemplars kept with the previous artifact, distillation towards it;
- joint: from scratch on periods 0..p-1.
Period 0's model is shared. Time per update is the wall time of the fit.

    .venv/bin/python benchmarks/ader.py --seed 0            # runs/results/ader-s0.json
    .venv/bin/python benchmarks/ader.py --report            # the table over the saved seeds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RUNS, SHARED_DATA, write_result  # noqa: E402
from shelflm.data.schema import Catalog, Dataset, Interactions  # noqa: E402
from shelflm.data.splits import TemporalSplit  # noqa: E402
from shelflm.evaluation.metrics import target_ranks  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.models.config import ItemTowerConfig, SequenceEncoderConfig, ShelfModelConfig  # noqa: E402,E501
from shelflm.settings import DataConfig, ShelfConfig  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.continual import dataset_exemplars, fit_update  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402

DATA = SHARED_DATA / "diginetica-periods"
PERIODS = 17
METHODS = ("finetune", "ours", "joint")
PUBLISHED = {"ADER": (50.3, 17.4), "joint": (50.2, 17.4), "finetune": (47.2, 16.0)}


def load_periods() -> pd.DataFrame:
    """All clicks: session (user_id), item_id, timestamp (the global line order), period."""
    frames = []
    for p in range(PERIODS):
        frame = pd.read_csv(DATA / f"period_{p}.txt", sep=" ", header=None,
                            names=["user_id", "item_id"], dtype=str)
        frames.append(frame.assign(period=p))
    events = pd.concat(frames, ignore_index=True)
    return events.assign(timestamp=np.arange(len(events)), event="click")


def window(events: pd.DataFrame, first: int, last: int) -> Dataset:
    """Periods first..last as a Dataset whose catalog is the items clicked in them."""
    frame = events[(events["period"] >= first) & (events["period"] <= last)]
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": pd.unique(frame["item_id"]),
                                               "title": ""}))
    return Dataset(f"diginetica {first}-{last}", catalog, Interactions.from_frame(frame))


def prefixes(events: pd.DataFrame, p: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Period p's cases as item-id arrays: each session prefix and the click after it."""
    frame = events[events["period"] == p]
    hists, targets = [], []
    for items in frame.groupby("user_id", sort=False)["item_id"]:
        seq = items[1].to_numpy()
        for k in range(1, len(seq)):
            hists.append(seq[:k])
            targets.append(seq[k])
    return hists, np.asarray(targets, dtype=object)


def evaluate(rec: object, catalog: Catalog, hists: list[np.ndarray], targets: np.ndarray,
             batch: int = 2048) -> dict[str, float]:
    """Recall@20 and MRR@20 (percent) over the cases, against the model's catalog."""
    ids = catalog.ids
    target_rows = ids.get_indexer(targets)
    ranks = np.full(len(targets), np.iinfo(np.int64).max, dtype=np.int64)
    for start in range(0, len(targets), batch):
        rows = [r[r >= 0] for r in (ids.get_indexer(h) for h in hists[start:start + batch])]
        known = np.array([len(r) > 0 for r in rows]) & (target_rows[start:start + batch] >= 0)
        at = np.flatnonzero(known)
        if not len(at):
            continue
        hist = [rows[i] for i in at]
        scores = rec.score(np.zeros(len(at), np.int64), hist,
                           [np.zeros(len(h), np.int64) for h in hist])
        ranks[start + at] = target_ranks(scores, target_rows[start + at])
    hit = ranks <= 20
    return {"recall@20": 100 * float(hit.mean()),
            "mrr@20": 100 * float(np.where(hit, 1.0 / np.minimum(ranks, 2**62), 0).mean())}


def config(seed: int, budget: float) -> ShelfConfig:
    """ID-only shelflm (default sizes), sessions of up to 20 clicks, temporal validation,
    sampled softmax (512 negatives: the catalog grows to 43k items), patience 3."""
    base = ShelfConfig()
    model = ShelfModelConfig(SequenceEncoderConfig(max_len=20),
                             ItemTowerConfig(use_text=False, id_dropout=0.0))
    data = DataConfig(split="temporal", temporal=TemporalSplit(valid_fraction=0.1,
                                                               test_fraction=0.01))
    return replace(base, model=model, data=data, training=replace(
        base.training, seed=seed, progress=False, time_budget_s=budget, max_valid_cases=3000,
        batch_size=256, loss="sampled_softmax", num_negatives=512, patience=3))


def run(seed: int, budget: float, last: int) -> dict:
    events = load_periods()
    cfg = config(seed, budget)
    work = Path(tempfile.mkdtemp(prefix="shelflm-ader-"))
    rec, data, seconds = _train(cfg, window(events, 0, 0))
    dirs = {m: _save(rec, cfg, data, work / "p0") for m in METHODS}
    out: dict = {"tag": f"ader-s{seed}", "first_seconds": seconds, "rows": []}
    for p in range(1, last + 1):
        hists, targets = prefixes(events, p)
        for method in METHODS:
            if p == 1:
                model, catalog, seconds = rec, data.catalog, 0.0
            else:
                model, catalog, seconds = _step(method, cfg, events, p, dirs, work)
            row = {"period": p, "method": method, "seconds": round(seconds, 1),
                   "cases": len(targets), **evaluate(model, catalog, hists, targets)}
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
    return out


def _step(method: str, cfg: ShelfConfig, events: pd.DataFrame, p: int, dirs: dict,
          work: Path) -> tuple[object, Catalog, float]:
    """The method's model after period p-1 (saved for its next step)."""
    if method == "joint":
        rec, data, seconds = _train(cfg, window(events, 0, p - 1))
        return rec, data.catalog, seconds
    t = time.perf_counter()
    ours = method == "ours"
    update = replace(cfg, training=replace(cfg.training, init_from=str(dirs[method]),
                                           init_items=True, distill_weight=1.0 if ours else 0))
    rec, data, _, _ = fit_update(dirs[method], window(events, p - 1, p - 1), update,
                                 replay=ours)
    seconds = time.perf_counter() - t
    dirs[method] = _save(rec, update, data, work / f"{method}-p{p}")
    return rec, data.catalog, seconds


def _train(cfg: ShelfConfig, data: Dataset) -> tuple[object, Dataset, float]:
    t = time.perf_counter()
    rec = build_model("shelflm", data, cfg)
    fit_and_evaluate(rec, cfg.data.splitter().split(data))
    return rec, data, time.perf_counter() - t


def _save(rec: object, cfg: ShelfConfig, data: Dataset, out: Path) -> Path:
    return save_artifact(rec, out, data.catalog, rec.text_settings,
                         exemplars=dataset_exemplars(data, cfg))


def report() -> None:
    """Every saved seed: per method the mean over periods of Recall@20 / MRR@20 (spread over
    the seeds) and the median seconds per update, beside ADER's published figures."""
    runs = [json.loads(p.read_text()) for p in sorted((RUNS / "results").glob("ader-s*.json"))]
    print(f"diginetica-periods, {len(runs)} seeds, mean over periods "
          f"1-{max(r['period'] for r in runs[0]['rows'])}")
    print("| method | Recall@20 | MRR@20 | seconds per update (median) |")
    for method in METHODS:
        rows = [[r for r in run["rows"] if r["method"] == method] for run in runs]
        stats = {k: [np.mean([r[k] for r in seed]) for seed in rows]
                 for k in ("recall@20", "mrr@20")}
        secs = [r["seconds"] for seed in rows for r in seed if r["period"] > 1]
        print(f"| {method} | " + " | ".join(
            f"{np.mean(v):.2f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.2f}"
            for v in stats.values()) + f" | {np.median(secs):.0f} |")
    for name, (r, m) in PUBLISHED.items():
        print(f"| published {name} (SASRec) | {r} | {m} | |")
    share = unseen_share(load_periods())
    print("cases whose target no earlier period clicked (misses here; ADER's code drops those "
          f"clicks): {100 * np.mean(share):.1f}% on the mean of periods, "
          + " / ".join(f"{100 * x:.0f}" for x in share) + " % by period")


def unseen_share(events: pd.DataFrame) -> list[float]:
    """Per test period 1..16: the share of its cases whose target periods 0..p-1 never had."""
    out = []
    for p in range(1, PERIODS):
        seen = set(events.loc[events["period"] < p, "item_id"])
        _, targets = prefixes(events, p)
        out.append(float(np.mean([t not in seen for t in targets])))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=900, help="seconds per fit")
    p.add_argument("--last", type=int, default=PERIODS - 1, help="last test period")
    p.add_argument("--report", action="store_true", help="no run: the saved seeds' table")
    args = p.parse_args()
    if not args.report:
        result = run(args.seed, args.budget, args.last)
        write_result(result["tag"] if args.last == PERIODS - 1 else
                     f"{result['tag']}-to{args.last}", result)
    report()


if __name__ == "__main__":
    main()
