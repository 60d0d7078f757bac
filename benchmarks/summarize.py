"""Collect runs/results/*.json into one Markdown table (mean ± std over seeds).

Usage: .venv/bin/python benchmarks/summarize.py  -> prints and writes runs/results/summary.md
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "runs" / "results"


def blended(runs: list[dict], cell) -> str:
    """The text-blended scores (benchmarks/beauty.py --text-weights): the weights picked,
    then test NDCG@10 all / cold / warm; "-" for runs without them."""
    got = [r["blended"] for r in runs if "blended" in r]
    if not got:
        return "-"
    parts = [cell([b[f"test_{s}"]["ndcg@10"] for b in got if f"test_{s}" in b])
             for s in ("all", "cold", "warm")]
    weights = "/".join(f"{b['text_weight']:g}" for b in got)
    return f"w={weights}: " + ", ".join(p for p in parts if p != "-")


def main() -> None:
    """Group result files by tag minus the seed, print mean ± std of the test metrics."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        if not isinstance(result, dict) or "epochs" not in result:
            continue  # another benchmark's file (the baselines table, cold_ensemble.py)
        groups[re.sub(r"-s\d+", "", result["tag"])].append(result)
    lines = ["| run | seeds | valid NDCG@10 | NDCG@10 | HR@10 | cold NDCG@10 | warm NDCG@10 | "
             "blended: weights, NDCG@10, cold, warm | epochs | train min |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(values: list[float]) -> str:
        if not values:
            return "-"
        if len(values) == 1:
            return f"{values[0]:.4f}"
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"

    for name, runs in groups.items():
        cold = [r["test_cold"]["ndcg@10"] for r in runs if "test_cold" in r]
        warm = [r["test_warm"]["ndcg@10"] for r in runs if "test_warm" in r]
        valid = [r["valid_best_ndcg@10"] for r in runs if "valid_best_ndcg@10" in r]
        lines.append(
            f"| {name} | {len(runs)} | {cell(valid)} | "
            f"{cell([r['test']['ndcg@10'] for r in runs])} | "
            f"{cell([r['test']['hr@10'] for r in runs])} | {cell(cold)} | {cell(warm)} | "
            f"{blended(runs, cell)} | "
            f"{np.mean([r['epochs'] for r in runs]):.0f} | "
            f"{np.mean([r['train_seconds'] for r in runs]) / 60:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
