"""Fresh without forgetting: a model trained on the first 80% of a dataset's time span,
updated on the last 20% (`shelflm update`'s code: training/continual.py fit_update), against
fine-tuning on the new events alone and a full retrain on everything.

Test NDCG@10 on two case sets, full ranking:
- new: each user's last event, for users with events in the new window (history: all
  their earlier events);
- old (forgetting): the old window's leave-one-out test cases of users with no new event,
  which no variant trains on.

    .venv/bin/python benchmarks/continual.py --seeds 0 1 2            # ML-100K
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
from common import load_named, write_result  # noqa: E402
from shelflm.data.splits import LeaveOneOutSplit  # noqa: E402
from shelflm.evaluation.protocol import RankingEvaluator  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.settings import ShelfConfig  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.continual import dataset_exemplars, fit_update  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402

VARIANTS = {"finetune": (False, 0.0), "replay": (True, 0.0), "replay+distill": (True, 1.0)}


def windows(dataset: object, share: float) -> tuple[object, object]:
    """The events up to the `share` quantile of time, and the rest (same catalog)."""
    events = dataset.interactions.events
    cut = events["timestamp"].quantile(share)
    old, new = events[events.timestamp <= cut], events[events.timestamp > cut]
    return (dataset.with_interactions(old, f"{dataset.name}-old"),
            dataset.with_interactions(new, f"{dataset.name}-new"))


def case_sets(full: object, old: object, new: object) -> dict[str, object]:
    """The new-window cases and the old-window cases of users who did not come back."""
    back = set(new.interactions.events["user_id"])
    loo_all, loo_old = LeaveOneOutSplit().split(full).test, LeaveOneOutSplit().split(old).test
    users_all, users_old = full.user_ids, old.user_ids
    keep_new = np.isin(np.asarray(users_all[np.asarray(loo_all.users)]), list(back))
    keep_old = ~np.isin(np.asarray(users_old[np.asarray(loo_old.users)]), list(back))
    return {"new": loo_all.take(np.flatnonzero(keep_new)),
            "old": loo_old.take(np.flatnonzero(keep_old))}


def config(seed: int, budget: float) -> ShelfConfig:
    """The default run config, quiet, one seed, a time budget per fit."""
    cfg = ShelfConfig()
    return replace(cfg, training=replace(cfg.training, seed=seed, progress=False,
                                         time_budget_s=budget))


def run(name: str, seed: int, share: float, budget: float) -> dict:
    """Parent, the three updates and the retrain of one seed, on both case sets."""
    full = load_named(name)
    old, new = windows(full, share)
    cases = case_sets(full, old, new)
    out: dict = {"tag": f"continual-{name}-s{seed}",
                 "cases": {k: len(c.targets) for k, c in cases.items()}}
    cfg = config(seed, budget)
    work = Path(tempfile.mkdtemp(prefix="shelflm-continual-"))
    t = time.perf_counter()
    parent = build_model("shelflm", old, cfg)
    split = cfg.data.splitter().split(old)
    fit_and_evaluate(parent, split)
    save_artifact(parent, work / "parent", old.catalog, parent.text_settings,
                  exemplars=dataset_exemplars(old, cfg))
    out["parent"] = _scores(parent, cases, t)
    for variant, (replay, distill) in VARIANTS.items():
        t = time.perf_counter()
        update = replace(cfg, training=replace(cfg.training, init_from=str(work / "parent"),
                                               init_items=True, distill_weight=distill))
        rec, dataset, _, _ = fit_update(work / "parent", new, update, replay)
        out[variant] = {**_scores(rec, cases, t), "events": len(dataset.interactions)}
    t = time.perf_counter()
    retrain = build_model("shelflm", full, cfg)
    fit_and_evaluate(retrain, cfg.data.splitter().split(full))
    out["retrain"] = {**_scores(retrain, cases, t), "events": len(full.interactions)}
    return out


def _scores(rec: object, cases: dict, started: float) -> dict:
    return {**{k: RankingEvaluator(c, ks=(10,))(rec)["ndcg@10"] for k, c in cases.items()},
            "seconds": round(time.perf_counter() - started, 1),
            "epochs": len(getattr(rec, "history", []))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--share", type=float, default=0.8, help="time share of the old window")
    p.add_argument("--budget", type=float, default=600, help="seconds per fit")
    args = p.parse_args()
    rows = []
    for seed in args.seeds:
        result = run(args.dataset, seed, args.share, args.budget)
        write_result(result["tag"], result)
        rows.append(result)
        print(json.dumps(result), flush=True)
    table = pd.DataFrame({v: {k: np.mean([r[v][k] for r in rows]) for k in ("new", "old")}
                          for v in ("parent", *VARIANTS, "retrain")}).T
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
