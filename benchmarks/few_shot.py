"""Transfer and the few-shot curve (issue 13): on each amazon-bundle target, a source artifact's
weights tuned on a share of the target's users, against training from scratch on the same
share. Every run is one benchmarks/beauty.py call (results: runs/results/<tag>.json; a run
whose result exists is not run again), then a table of test NDCG@10, mean ± std over seeds.

    .venv/bin/python benchmarks/few_shot.py runs/artifacts/beauty-moe \
        --design --model text-only --head moe

Methods: "scratch" (shelflm's default design trained on the share), "adaptor" (the source's
weights, only the text head and ID part train: `--init-from ART --train-only adaptor`) and
"finetune" (the source's weights, everything trains). --design gives the source's design
flags, which the transfer runs must repeat. Valid and test cases keep every user: a share
only removes users' events from training.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import BUNDLES, RUNS  # noqa: E402

# The target-trained flags of the zero-shot table (docs/RESULTS.md).
TRAIN = ["--batch-size", "128", "--lr", "2e-3", "--id-lr-scale", "10", "--id-dropout", "0.1",
         "--eval-every", "1", "--patience", "5"]
METHODS = ("scratch", "adaptor", "finetune")


def command(artifact: Path, design: list[str], domain: str, share: float, method: str,
            seed: int, tag: str) -> list[str]:
    cmd = [sys.executable, str(HERE / "beauty.py"), "--dataset", f"bundle-{domain}",
           "--users", str(share), "--seed", str(seed), "--tag", tag, *TRAIN]
    if method != "scratch":
        cmd += [*design, "--init-from", str(artifact),
                "--train-only", "adaptor" if method == "adaptor" else "all"]
    return cmd


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", type=Path, help="source artifact (trained on another shop)")
    p.add_argument("--design", nargs=argparse.REMAINDER, default=[],
                   help="the source's beauty.py design flags (last on the line)")
    p.add_argument("--targets", nargs="+", default=list(BUNDLES), choices=BUNDLES)
    p.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.25, 1.0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    table: dict = {}
    for domain in args.targets:
        for share in args.shares:
            for method in args.methods:
                scores = []
                for seed in args.seeds:
                    tag = f"fewshot-{domain}-{method}-u{share:g}-s{seed}"
                    path = RUNS / "results" / f"{tag}.json"
                    if not path.exists():
                        subprocess.run(command(args.artifact, args.design, domain, share,
                                               method, seed, tag), check=True)
                    scores.append(json.loads(path.read_text())["test"]["ndcg@10"])
                table[domain, share, method] = (float(np.mean(scores)), float(np.std(scores)))
    print(f"\n{'target':<11} {'users':>6}  " + "  ".join(f"{m:>15}" for m in args.methods)
          + "   (test NDCG@10, mean ± std over seeds)")
    for domain in args.targets:
        for share in args.shares:
            cells = [f"{table[domain, share, m][0]:.4f} ± {table[domain, share, m][1]:.4f}"
                     for m in args.methods]
            print(f"{domain:<11} {share:>6.0%}  " + "  ".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
