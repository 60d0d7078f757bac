"""The cross-encoder as a second stage: retrieval's top N reranked vs retrieval alone.

Retrieval is the default model (text + ID) saved by `benchmarks/ablations.py --groups carry`
(runs/artifacts/<data>-carry-base-s<S>), on its own cold-start split (10% of items held
out of train, the seed draws them), so the numbers show warm and cold targets apart. The
cross-encoder (RankerConfig's defaults unless flags say otherwise) learns on at most
--cases validation cases (training/rerank.py), then scores the test cases, all of them or
a random --test-cases draw (the same draw for both rows), on ONNX with one thread.

    .venv/bin/python benchmarks/rerank.py --dataset ml-100k --seeds 0 1 2
    .venv/bin/python benchmarks/rerank.py --dataset beauty --seeds 0 1 2 --test-cases 2000
    .venv/bin/python benchmarks/rerank.py --report
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from beauty import make_split  # noqa: E402
from common import RUNS, load_named, write_result  # noqa: E402
from shelflm.evaluation.protocol import RankingEvaluator  # noqa: E402
from shelflm.evaluation.served import ServedRecommender  # noqa: E402
from shelflm.models.cross_onnx import OnnxCrossEncoder, export_cross_encoder  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.training.config import RankerConfig  # noqa: E402
from shelflm.training.rerank import RerankRecommender, fit_ranker  # noqa: E402

SHORT = {"ml-100k": "ml100k", "beauty": "beauty"}


def run(dataset: str, seed: int, config: RankerConfig, test_cases: int | None) -> dict:
    """One seed: fit the reranker on validation cases, score the test cases both ways."""
    data = load_named(dataset)
    split = make_split(data, 0.1, seed)
    artifact = RUNS / "artifacts" / f"{SHORT[dataset]}-carry-base-s{seed}"
    retrieval = ServedRecommender(load_artifact(artifact).on_catalog(data.catalog), "retrieval")
    config = replace(config, training=replace(config.training, seed=seed))
    start = time.perf_counter()
    model, fit = fit_ranker(retrieval, split.valid, data.catalog, config)
    out = {"dataset": dataset, "seed": seed, "train_seconds": time.perf_counter() - start,
           "best_epoch": fit["best_epoch"], "pairs": fit["pairs"],
           "valid_targets_in_top_n": fit["targets_in_top_n"], "epochs": fit["epochs"]}
    test = split.test
    if test_cases and len(test) > test_cases:
        test = test.take(np.sort(np.random.default_rng(seed).choice(len(test), test_cases,
                                                                     replace=False)))
    with tempfile.TemporaryDirectory() as tmp:
        scorer = OnnxCrossEncoder(export_cross_encoder(model, Path(tmp) / "ce.onnx"), model)
        reranked = RerankRecommender(retrieval, scorer, data.catalog, config.candidates,
                                     config.model.history)
        judge = RankingEvaluator(test, subsets=("all", "cold", "warm"), batch_size=256)
        for name, rec in (("retrieval", retrieval), ("reranked", reranked)):
            start = time.perf_counter()
            m = judge(rec)
            for subset in ("all", "cold", "warm"):
                prefix = "" if subset == "all" else f"{subset}_"
                out[f"{name}_{subset}_ndcg@10"] = m[f"{prefix}ndcg@10"]
                out[f"{name}_{subset}_hr@10"] = m[f"{prefix}hr@10"]
            out[f"{name}_seconds"] = time.perf_counter() - start
    out["test_cases"] = len(test)
    out["pairs_cut"] = reranked.truncated
    return out


def report() -> None:
    """Mean ± std over seeds of every saved rerank run."""
    rows = [r for p in sorted((RUNS / "results").glob("rerank-*-s*.json"))
            for r in json.loads(p.read_text())["runs"]]
    print("| data | seeds | test cases | retrieval NDCG@10 all / cold / warm | reranked "
          "all / cold / warm | valid targets in top N | train s |")
    print("|---|---|---|---|---|---|---|")
    for dataset in sorted({r["dataset"] for r in rows}):
        got = [r for r in rows if r["dataset"] == dataset]

        def cell(name: str, got: list = got) -> str:
            return " / ".join(
                f"{np.mean(v):.4f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.4f}"
                for v in ([r[f"{name}_{s}_ndcg@10"] for r in got]
                          for s in ("all", "cold", "warm")))

        print(f"| {dataset} | {len(got)} | {got[0]['test_cases']} | {cell('retrieval')} | "
              f"{cell('reranked')} | {np.mean([r['valid_targets_in_top_n'] for r in got]):.2f}"
              f" | {np.median([r['train_seconds'] for r in got]):.0f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(SHORT), default="ml-100k")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--cases", type=int, default=RankerConfig.cases,
                   help="most validation cases trained on")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--test-cases", type=int, default=None, help="a random draw of test cases")
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    if not args.report:
        torch.set_num_threads(1)
        base = RankerConfig()
        config = replace(base, cases=args.cases,
                         training=replace(base.training, epochs=args.epochs))
        for seed in args.seeds:
            row = run(args.dataset, seed, config, args.test_cases)
            print(json.dumps({k: v for k, v in row.items() if k != "epochs"}), flush=True)
            write_result(f"rerank-{SHORT[args.dataset]}-s{seed}", {"runs": [row]})
    report()


if __name__ == "__main__":
    main()
