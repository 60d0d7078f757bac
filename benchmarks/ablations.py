"""Run the quality grid (seeds, baselines' tuning, cold start, ablations) as parallel jobs.

Each job is one `benchmarks/beauty.py` run (one torch thread) writing
runs/results/<tag>.json; finished tags are skipped, so a stopped grid resumes. Jobs start
longest first; after `--deadline` seconds no job starts and running ones are stopped (each
also gets a training time budget that ends before the deadline). Then
`benchmarks/summarize.py` prints mean ± std over seeds per variant.

    .venv/bin/python benchmarks/ablations.py --groups ml100k --parallel 2        # this box
    .venv/bin/python benchmarks/ablations.py --groups carry --parallel 2   # issue 13 cold
    .venv/bin/python benchmarks/ablations.py --groups graph --parallel 1   # issue 14 graph
    .venv/bin/python benchmarks/ablations.py --groups office --parallel 2  # ... with links
    python3 benchmarks/ablations.py --device cuda --parallel 14 --deadline 480   # a GPU host
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RUNS,
    item_texts,
    lm_vectors,
    load_beauty,
    load_ml100k,
    load_office,
)

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2)
BEAUTY = ("--loss full_softmax --batch-size 128 --lr 2e-3 --id-lr-scale 10 --id-dropout 0.1 "
          "--eval-every 1 --max-valid 3000 --patience 5")
ML = ("--dataset ml-100k --dropout 0.2 --id-dropout 0.1 --lr 2e-3 --id-lr-scale 1 "
      "--eval-every 1 --patience 5")
ML_VARIANTS = {  # tag -> extra flags (base = the measured default)
    "base": "", "sasrec-id": "--model sasrec-id",
    "do0.5": "--dropout 0.5", "sasrec-id-do0.5": "--model sasrec-id --dropout 0.5",
    "fgm0.1": "--adv fgm --adv-eps 0.1", "fgm0.5": "--adv fgm --adv-eps 0.5",
    "aug0.02": "--aug-weight 0.02", "aug0.1": "--aug-weight 0.1",
    "tpl-title": "--template title", "tpl-attributes": "--template attributes",
    "peft-adaptor": "--tuning adaptor", "peft-top_layers": "--tuning top_layers",
    "peft-lora": "--tuning lora", "peft-full": "--tuning full --lm-lr 5e-5",
    "textonly0.5": "--text-only-weight 0.5",
}
COLD_VARIANTS = {
    "base": "", "idd0.3": "--id-dropout 0.3", "idd0.5": "--id-dropout 0.5",
    "tow0.5": "--text-only-weight 0.5", "tow1": "--text-only-weight 1.0",
    "idd0.3-tow0.5": "--id-dropout 0.3 --text-only-weight 0.5",
    "sasrec-id": "--model sasrec-id",  # the ID-only baseline on the same cold split
}
# Issue 13's cold-start designs over 3 seeds, each also scored with the LM similarity
# blended in (its weight picked on validation): dataset -> {tag: extra flags}.
BLEND = "--text-weights 0 1 3 10 30"
CARRY_VARIANTS = {
    "beauty": {"base": "", "textonly": "--model text-only",
               "textonly-h256": "--model text-only --hidden 256"},  # run with --budget 1500
    "ml100k": {"base": "", "textonly": "--model text-only",
               "textonly-moe": "--model text-only --head moe"},
}
# Issue 14's knowledge-graph fusion on the same cold split (base: the carry runs' "base").
GRAPH_VARIANTS = {"graph0.3": "--graph 0.3", "graph0.6": "--graph 0.6"}
# ... and on amazon-office, whose catalog lists each item's complements and substitutes.
OFFICE = BEAUTY.replace("--max-valid 3000 ", "") + " --dataset amazon-office"
OFFICE_VARIANTS = {"base": "", "graph0.6": "--graph 0.6",
                   "links0.6": "--graph 0.6 --graph-links complements substitutes"}


def jobs(groups: list[str]) -> list[tuple[str, str, float]]:
    """(tag, flags, time budget s) per job, longest groups first."""
    out = []
    if "beauty" in groups:
        for seed in SEEDS:
            out.append((f"beauty-shelflm-s{seed}", f"{BEAUTY} --seed {seed}", 1080))
            out.append((f"beauty-adaptor-s{seed}", f"{BEAUTY} --tuning adaptor --seed {seed}",
                        1080))
            for scale in (1, 10):
                for drop in (0.2, 0.5):
                    out.append((f"beauty-sasrec-id-lr{scale}-do{drop}-s{seed}",
                                f"{BEAUTY} --model sasrec-id --id-lr-scale {scale} "
                                f"--dropout {drop} --seed {seed}", 1080))
    if "cold" in groups:
        for name, extra in COLD_VARIANTS.items():
            out.append((f"beauty-cold-{name}-s0", f"{BEAUTY} --cold 0.1 {extra} --seed 0", 1080))
    if "carry" in groups:
        out += carry_jobs()
    out += graph_jobs(groups)
    if "ml100k" in groups:
        for name, extra in ML_VARIANTS.items():
            for seed in SEEDS:
                out.append((f"ml100k-{name}-s{seed}", f"{ML} {extra} --seed {seed}", 900))
    return out


def graph_jobs(groups: list[str]) -> list[tuple[str, str, float]]:
    """Issue 14's knowledge-graph fusion: ML-100K (attributes), amazon-office (+ links)."""
    out = []
    if "graph" in groups:
        out += [(f"ml100k-graph-{name}-s{seed}", f"{ML} --cold 0.1 {extra} --seed {seed}", 900)
                for seed in SEEDS for name, extra in GRAPH_VARIANTS.items()]
        out += [(f"ml100k-loo-graph0.6-s{seed}", f"{ML} --graph 0.6 --seed {seed}", 900)
                for seed in SEEDS]  # leave-one-out: supervised quality
    if "office" in groups:
        out += [(f"office-graph-{name}-s{seed}", f"{OFFICE} --cold 0.1 {extra} --seed {seed}", 900)
                for seed in SEEDS for name, extra in OFFICE_VARIANTS.items()]
    return out


def carry_jobs() -> list[tuple[str, str, float]]:
    """The cold-start designs, a seed's designs side by side, ML-100K (quick) first."""
    out = []
    for data, base, budget in (("ml100k", ML, 900), ("beauty", BEAUTY, 1080)):
        for seed in SEEDS:
            for name, extra in CARRY_VARIANTS[data].items():
                tag = f"{data}-carry-{name}-s{seed}"
                out.append((tag, f"{base} --cold 0.1 {extra} --seed {seed} {BLEND} "
                                 f"--save {RUNS / 'artifacts' / tag}", budget))
    return out


def warm_caches(groups: list[str], device: str) -> None:
    """Encode every text set the jobs need once, so parallel jobs only read the cache."""
    if {"beauty", "cold", "carry"} & set(groups):
        lm_vectors(item_texts(load_beauty(), "{title}"), device=device)
    if "office" in groups:
        lm_vectors(item_texts(load_office(), "{title}"), device=device)
    if {"ml100k", "carry", "graph"} & set(groups):
        data = load_ml100k()
        for fmt in ("{title}. Genres: {category}", "title", "attributes"):
            lm_vectors(item_texts(data, fmt), device=device)


def main() -> None:
    """Run the grid; print the summary table."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--groups", nargs="+", default=["beauty", "cold", "ml100k"],
                   choices=["beauty", "cold", "ml100k", "carry", "graph", "office"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--parallel", type=int, default=2, help="jobs at once (one thread each)")
    p.add_argument("--deadline", type=float, default=None, help="seconds for the whole grid")
    p.add_argument("--only", nargs="+", default=None, help="run only tags containing one of these")
    p.add_argument("--budget", type=float, default=None,
                   help="training seconds per job (default: 1080 Beauty, 900 ML-100K)")
    args = p.parse_args()
    start = time.monotonic()
    if args.device != "cpu" or args.parallel > 1:
        warm_caches(args.groups, args.device)
    (RUNS / "logs").mkdir(parents=True, exist_ok=True)
    todo = [(tag, flags, args.budget or budget) for tag, flags, budget in jobs(args.groups)
            if not (RUNS / "results" / f"{tag}.json").exists()
            and (not args.only or any(part in tag for part in args.only))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: dict[str, subprocess.Popen] = {}
    left = lambda: (args.deadline or 1e12) - (time.monotonic() - start)  # noqa: E731
    while todo or running:
        for tag, proc in list(running.items()):
            if proc.poll() is not None:
                print(f"[{time.monotonic() - start:5.0f}s] {tag} exit {proc.returncode}",
                      flush=True)
                del running[tag]
        if left() < 0:
            for proc in running.values():
                proc.terminate()
            print(f"deadline: stopped {sorted(running)}; not started {[t for t, *_ in todo]}")
            break
        while todo and len(running) < args.parallel and left() > 90:
            tag, flags, budget = todo.pop(0)
            budget = min(budget, left() - 120)  # start-up and the final test evaluation
            cmd = [sys.executable, str(HERE / "beauty.py"), *flags.split(), "--threads", "1",
                   "--device", args.device, "--time-budget", f"{budget:.0f}", "--tag", tag]
            log = open(RUNS / "logs" / f"{tag}.out", "w")  # noqa: SIM115
            running[tag] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if not running and todo:
            print(f"too little time left; not started {[t for t, *_ in todo]}")
            break
        time.sleep(2)
    subprocess.run([sys.executable, str(HERE / "summarize.py")], check=False)


if __name__ == "__main__":
    main()
