"""Classic baselines, each tuned on validation, under the shared full-ranking protocol.

Usage (results: runs/results/baselines-<dataset>[-cold].{md,json,png}):
    .venv/bin/python benchmarks/baselines.py --dataset ml-100k
    .venv/bin/python benchmarks/baselines.py --dataset amazon-beauty --max-valid 5000
    .venv/bin/python benchmarks/baselines.py --dataset amazon-beauty --cold 0.1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RUNS, leave_one_out, load_beauty, load_ml100k  # noqa: E402
from shelflm.data.splits import ColdStartItemSplit  # noqa: E402
from shelflm.evaluation.plots import plot_metric_bars  # noqa: E402
from shelflm.evaluation.protocol import RankingEvaluator  # noqa: E402
from shelflm.evaluation.report import write_report  # noqa: E402
from shelflm.models.baselines import TunedRecommender  # noqa: E402
from shelflm.settings import ShelfConfig  # noqa: E402
from shelflm.training.registry import build_model, model_names  # noqa: E402

CLASSIC = model_names(classic=True)  # the registry's classic baselines


def main() -> None:
    """Tune, fit and evaluate each baseline; write the table, JSON and bar chart."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="ml-100k", choices=["amazon-beauty", "ml-100k"])
    p.add_argument("--models", default=",".join(CLASSIC),
                   help=f"comma-separated, from: {', '.join(CLASSIC)}")
    p.add_argument("--max-valid", type=int, default=None, help="valid cases used for tuning")
    p.add_argument("--cold", type=float, default=0.0, help="share of items held out as cold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    dataset = load_beauty() if args.dataset == "amazon-beauty" else load_ml100k()
    if args.cold > 0:
        split = ColdStartItemSplit(cold_fraction=args.cold, seed=args.seed).split(dataset)
    else:
        split = leave_one_out(dataset)
    subsets = ("all", "cold", "warm") if args.cold > 0 else ("all",)
    evaluator = RankingEvaluator(split.test, split.train, subsets=subsets)
    results, details = {}, {}
    names = args.models.split(",")
    if set(names) - set(CLASSIC):
        p.error(f"--models: {sorted(set(names) - set(CLASSIC))} are not classic baselines; "
                f"known: {', '.join(CLASSIC)}")
    for name in names:
        base = build_model(name, dataset, ShelfConfig())  # baselines take none of the config
        model = TunedRecommender(type(base), base.grid, name=name,
                                 max_valid_cases=args.max_valid, seed=args.seed)
        start = time.perf_counter()
        with threadpool_limits(args.threads):
            model.fit(split)
            fit_s = time.perf_counter() - start
            results[name] = evaluator(model)
        results[name]["tune_fit_seconds"] = fit_s
        details[name] = {"best_params": model.best_params, "trials": model.trials}
        print(f"{name}: ndcg@10={results[name]['ndcg@10']:.4f} hr@10={results[name]['hr@10']:.4f}"
              f" best={model.best_params} ({fit_s:.0f}s tuning)", flush=True)
    tag = f"baselines-{args.dataset}" + ("-cold" if args.cold > 0 else "")
    out = RUNS / "results"
    protocol = f"cold-start item split {args.cold}" if args.cold else "leave-one-out"
    notes = (f"{args.dataset}, {protocol}, full-catalog ranking, history masked; "
             f"tuned on validation NDCG@10, seed {args.seed}.")
    paths = write_report(results, out, tag, title=f"Baselines on {args.dataset}", notes=notes)
    (out / f"{tag}-tuning.json").write_text(json.dumps(details, indent=2, default=float))
    plot_metric_bars(results, out / f"{tag}.png", title=f"Tuned baselines, {args.dataset}")
    print(paths["markdown"].read_text())


if __name__ == "__main__":
    main()
