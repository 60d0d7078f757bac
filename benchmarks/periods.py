"""Fresh without forgetting over time periods: a dataset cut by time into P periods of equal
event counts; after period p-1 each method has a model, tested on period p.

Each user's last event in each period is held out of every training window. For the model
made after period p-1:
- next: NDCG@10 on period p's held-out events (history: all the user's earlier events);
- kept: NDCG@10 on periods 1..p-1's held-out events (forgetting: what it still ranks).
Methods, each starting from its own previous model (period 0: one shared first model):
- finetune: period p-1's events only;
- ours: `shelflm update`'s code (training/continual.py fit_update): period p-1's events,
  the exemplars kept with the previous artifact, distillation towards it;
- joint: retrain from scratch on periods 0..p-1.
Time per update is the training wall time (early stopping, the default run config).

    .venv/bin/python benchmarks/periods.py --dataset ml-latest-small --periods 6 --seed 0
    .venv/bin/python benchmarks/periods.py --dataset ml-100k --periods 7 --seed 0  # ~months
    .venv/bin/python benchmarks/periods.py --dataset ml-latest-small --periods 6 --report \
        --plot docs/img/periods-ml-latest-small.png     # the table and plot over the seeds
    .venv/bin/python benchmarks/periods.py --dataset ml-100k --periods 7 --methods ours \
        --graph 0.6 --seed 0      # knowledge-graph fusion's effect on forgetting (same --report)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHED_ENCODER, RUNS, load_named, write_result  # noqa: E402
from shelflm.data.splits import EvalCases  # noqa: E402
from shelflm.evaluation.plots import plot_periods  # noqa: E402
from shelflm.evaluation.protocol import RankingEvaluator  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.settings import ShelfConfig  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.continual import dataset_exemplars, fit_update  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402

METHODS = ("finetune", "ours", "joint")


def cut(dataset: object, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Per event (in the dataset's stored order): its period, and whether it is held out
    (its user's last event in that period)."""
    events = dataset.interactions.events
    ranks = events["timestamp"].rank(method="first").to_numpy() - 1
    period = (ranks * periods // len(events)).astype(int)
    frame = events.assign(period=period, row=np.arange(len(events)))
    last = frame.sort_values(["user_id", "period", "timestamp"], kind="stable").groupby(
        ["user_id", "period"], observed=True)["row"].last()
    held = np.zeros(len(events), bool)
    held[last.to_numpy()] = True
    return period, held


def cases(dataset: object, rows: np.ndarray) -> EvalCases:
    """The held-out events `rows` as cases: history = the user's earlier events, all periods."""
    enc = dataset.encoded()
    by_user = {u: g for u, g in enc.groupby("user", sort=False)}
    users, targets, hists, evs = [], [], [], []
    for row in rows:
        event = enc.iloc[row]
        earlier = by_user[event["user"]]
        earlier = earlier[earlier["timestamp"] < event["timestamp"]]
        if len(earlier):
            users.append(event["user"]), targets.append(event["item"])
            hists.append(earlier["item"].to_numpy()), evs.append(earlier["event_idx"].to_numpy())
    return EvalCases(np.array(users), np.array(targets), hists, evs,
                     np.zeros(len(users), bool))


def window(dataset: object, period: np.ndarray, held: np.ndarray, first: int,
           last: int) -> object:
    """The trainable events of periods first..last."""
    keep = (period >= first) & (period <= last) & ~held
    return dataset.with_interactions(dataset.interactions.events[keep])


def tag(name: str, periods: int, methods: tuple[str, ...], graph: float) -> str:
    """Result-file stem of a run (without the seed): variants say what differs."""
    return (f"periods-{name}-{periods}" + (f"-graph{graph:g}" if graph else "")
            + ("" if methods == METHODS else "-" + "-".join(methods)))


def run(name: str, periods: int, seed: int, budget: float, methods: tuple[str, ...] = METHODS,
        graph: float = 0.0) -> dict:
    full = load_named(name)
    period, held = cut(full, periods)
    tests = [cases(full, np.flatnonzero(held & (period == p))) for p in range(periods)]
    base = ShelfConfig()
    model = replace(base.model, items=replace(base.model.items, graph=graph))
    cfg = replace(base, encoder=CACHED_ENCODER, model=model, training=replace(
        base.training, seed=seed, progress=False, time_budget_s=budget))
    work = Path(tempfile.mkdtemp(prefix="shelflm-periods-"))
    first = window(full, period, held, 0, 0)
    rec, seconds = _train(cfg, first)
    _save(rec, cfg, first, work / "p0")
    dirs = {m: work / "p0" for m in methods}
    out: dict = {"tag": f"{tag(name, periods, methods, graph)}-s{seed}",
                 "cases": [len(t) for t in tests], "first_seconds": seconds, "rows": []}
    for p in range(1, periods):
        for method in methods:
            if p == 1:
                model, seconds = rec, 0.0
            else:
                model, seconds = _step(method, cfg, full, period, held, p, dirs, work)
            row = {"period": p, "method": method, "seconds": round(seconds, 1),
                   "next": RankingEvaluator(tests[p], ks=(10,))(model)["ndcg@10"],
                   "kept": float(np.mean([RankingEvaluator(tests[q], ks=(10,))(model)[
                       "ndcg@10"] for q in range(1, p)])) if p > 1 else None}
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
    return out


def _step(method: str, cfg: ShelfConfig, full: object, period: np.ndarray, held: np.ndarray,
          p: int, dirs: dict, work: Path) -> tuple[object, float]:
    """The method's model after period p-1 (saved for its next step)."""
    t = time.perf_counter()
    if method == "joint":
        data = window(full, period, held, 0, p - 1)
        rec, _ = _train(cfg, data)
        return rec, time.perf_counter() - t
    data = window(full, period, held, p - 1, p - 1)
    ours = method == "ours"
    update = replace(cfg, training=replace(cfg.training, init_from=str(dirs[method]),
                                           init_items=True, distill_weight=1.0 if ours else 0))
    rec, dataset, _, _ = fit_update(dirs[method], data, update, replay=ours)
    seconds = time.perf_counter() - t
    dirs[method] = _save(rec, update, dataset, work / f"{method}-p{p}")
    return rec, seconds


def _train(cfg: ShelfConfig, data: object) -> tuple[object, float]:
    t = time.perf_counter()
    rec = build_model("shelflm", data, cfg)
    fit_and_evaluate(rec, cfg.data.splitter().split(data))
    return rec, time.perf_counter() - t


def _save(rec: object, cfg: ShelfConfig, data: object, out: Path) -> Path:
    return save_artifact(rec, out, data.catalog, rec.text_settings,
                         exemplars=dataset_exemplars(data, cfg))


def report(stem: str, methods: tuple[str, ...], periods: int, plot: Path | None) -> None:
    """Every seed's result of this run variant: the mean table over periods 2.. (period
    1's model is the shared first one) with the seeds' spread, and the plot by period."""
    runs = [json.loads(p.read_text()) for p in
            sorted((RUNS / "results").glob(f"{stem}-s*.json"))]
    rows = [r for run in runs for r in run["rows"]]
    print(f"{stem}, {len(runs)} seeds: mean over periods 2-{periods - 1}")
    for method in methods:
        per_seed = [[r for r in run["rows"] if r["method"] == method and r["period"] > 1]
                    for run in runs]
        stats = {k: [np.mean([r[k] for r in seed]) for seed in per_seed]
                 for k in ("next", "kept", "seconds")}
        print(f"| {method} | " + " | ".join(
            f"{np.mean(v):.4f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.4f}"
            for v in (stats["next"], stats["kept"])) + f" | {np.median(stats['seconds']):.1f} |")
    if plot is not None:
        mean = [{"period": p, "method": m, **{k: float(np.mean(v)) if v else None for k, v in (
            (k, [r[k] for r in rows if r["period"] == p and r["method"] == m
                 and r[k] is not None]) for k in ("next", "kept"))}}
                for m in methods for p in range(1, periods)]
        plot_periods(mean, plot, f"{stem}: mean of {len(runs)} seeds")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--periods", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=600, help="seconds per fit")
    p.add_argument("--report", action="store_true", help="no run: the table over the saved "
                   "seeds of this dataset and cut")
    p.add_argument("--plot", type=Path, default=None, help="with --report: the plot's PNG")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--graph", type=float, default=0.0,
                   help="knowledge-graph fusion weight of every model (ItemTowerConfig.graph)")
    args = p.parse_args()
    methods = tuple(m for m in METHODS if m in args.methods)
    if not args.report:
        result = run(args.dataset, args.periods, args.seed, args.budget, methods, args.graph)
        write_result(result["tag"], result)
    report(tag(args.dataset, args.periods, methods, args.graph), methods, args.periods, args.plot)


if __name__ == "__main__":
    main()
