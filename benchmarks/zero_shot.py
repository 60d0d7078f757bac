"""Zero-shot across shops (issue 13): an artifact trained on one shop scores other shops'
test cases with no training on them, beside popularity, ItemKNN and shelflm trained on
each target itself.

    # the source model and the target-trained ones (beauty.py, same design flags):
    .venv/bin/python benchmarks/beauty.py --model text-only --save runs/artifacts/beauty-text
    .venv/bin/python benchmarks/beauty.py --dataset bundle-food --model text-only --seed 0
    # then, per target: zero-shot, popularity, ItemKNN, and the target-trained result files:
    .venv/bin/python benchmarks/zero_shot.py runs/artifacts/beauty-text --trained text-only
    # with the LM similarity blended in, its weight picked on the source's validation:
    .venv/bin/python benchmarks/zero_shot.py runs/artifacts/beauty-text --text-weights 0 1 3 10

Targets are the amazon-bundle domains' sessions as sequences (format
amazon-bundle-sessions), leave-one-out, full ranking over each domain's catalog. The
artifact renders each target's catalog with its own template and encodes it with its own
LM; items get vectors from their text alone (`LoadedShelfModel.on_catalog`, the path
`shelflm evaluate` and `serve --catalog` take). Results: runs/results/zero-shot-*.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BUNDLES,
    RUNS,
    item_texts,
    leave_one_out,
    lm_vectors,
    load_bundle_sessions,
    load_named,
    pick_text_weight,
    write_result,
)
from shelflm.evaluation.protocol import evaluate_ranking  # noqa: E402
from shelflm.evaluation.served import ServedRecommender  # noqa: E402
from shelflm.models.baselines import ItemKNN, Popularity  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.training.trainer import subsample_cases  # noqa: E402


class TextSimilarity:
    """No training at all: each item scored by the cosine of its LM vector to the mean LM
    vector of the history (the bar a trained text model must clear)."""

    name = "text-similarity"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def fit(self, split: object) -> None:
        """Nothing to learn."""

    def score(self, users, histories, history_events) -> np.ndarray:
        queries = np.stack([self.vectors[np.asarray(h)].mean(0) for h in histories])
        return (queries @ self.vectors.T).astype(np.float32)


def trained_on_target(domain: str, model: str) -> dict | None:
    """NDCG@10 / HR@10 mean and spread of beauty.py runs on the target (seeds found)."""
    runs = [json.loads(p.read_text()) for p in sorted(
        (RUNS / "results").glob(f"bundle-{domain}-{model}-s*.json"))]
    if not runs:
        return None
    ndcg = [r["test"]["ndcg@10"] for r in runs]
    hr = [r["test"]["hr@10"] for r in runs]
    mean = sum(ndcg) / len(ndcg)
    spread = (sum((x - mean) ** 2 for x in ndcg) / len(ndcg)) ** 0.5
    return {"ndcg@10": mean, "ndcg@10_std": spread, "hr@10": sum(hr) / len(hr),
            "seeds": len(runs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", type=Path, help="source artifact (trained on another shop)")
    p.add_argument("--targets", nargs="+", default=list(BUNDLES), choices=BUNDLES)
    p.add_argument("--trained", default="shelflm",
                   help="beauty.py --model of the target-trained runs to read (by file name)")
    p.add_argument("--text-weights", type=float, nargs="+", default=[0.0],
                   help="ServingConfig.text_weight values; the best on the SOURCE's "
                        "validation cases (--source) is used on every target")
    p.add_argument("--source", default="amazon-beauty", help="the artifact's own dataset")
    args = p.parse_args()
    source, weight, picked = load_artifact(args.artifact), 0.0, {}
    if args.text_weights != [0.0]:  # picked on 3,000 of the source's validation cases
        valid = subsample_cases(leave_one_out(load_named(args.source)).valid, 3000, 0)
        source, weight, picked = pick_text_weight(source, valid, args.text_weights)
        print(f"source validation NDCG@10 by text weight: {picked}; using {weight:g}")
    rows = {}
    for domain in args.targets:
        dataset = load_bundle_sessions(domain)
        split = leave_one_out(dataset)
        row = {"cases": len(split.test.users), "items": dataset.num_items}
        zero = ServedRecommender(source.on_catalog(dataset.catalog), "zero-shot")
        row["zero-shot"] = evaluate_ranking(zero, split.test)
        texts = lm_vectors(item_texts(dataset, "{title}"))
        for name, rec in (("popularity", Popularity()), ("itemknn", ItemKNN()),
                          ("text-similarity", TextSimilarity(texts))):
            rec.fit(split)
            row[name] = evaluate_ranking(rec, split.test)
        row["trained"] = trained_on_target(domain, args.trained)
        rows[domain] = row
        write_result(f"zero-shot-{domain}", {"artifact": str(args.artifact),
                                             "text_weight": weight, "picked_on": picked, **row})
    print(f"\n{'target':<11} {'cases':>5}  {'zero-shot':>9} {'popular':>8} {'itemknn':>8} "
          f"{'text-sim':>8} {'trained':>14}  zero/pop  zero/trained   (NDCG@10)")
    for domain, row in rows.items():
        z, pop = row["zero-shot"]["ndcg@10"], row["popularity"]["ndcg@10"]
        t = row["trained"]
        trained = f"{t['ndcg@10']:.4f}±{t['ndcg@10_std']:.4f}" if t else "not run"
        ratio = f"{z / t['ndcg@10']:.2f}" if t and t["ndcg@10"] > 0 else "-"
        print(f"{domain:<11} {row['cases']:>5}  {z:9.4f} {pop:8.4f} "
              f"{row['itemknn']['ndcg@10']:8.4f} {row['text-similarity']['ndcg@10']:8.4f} "
              f"{trained:>14}  "
              f"{z / pop if pop else float('inf'):8.2f}  {ratio:>12}")


if __name__ == "__main__":
    main()
