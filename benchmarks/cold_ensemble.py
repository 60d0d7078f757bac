"""Cold items scored by a text-only model, warm items by the text+ID model, on one scale.

Two artifacts trained on the same cold-start split (`benchmarks/ablations.py --groups carry`
saves them: runs/artifacts/<data>-carry-base-s<S> and ...-textonly-s<S>). For each user
both models' scores over the catalog are standardised (z-scores over all items: a per-user
affine map, so it folds into the user vector and an index can serve it); an item with
training events takes the text+ID model's z-score, an item without any (cold) the
text-only model's plus an offset `b`, the exposure new items get. Picked on 3,000
validation cases: the offset with the best NDCG@10 over all of them among those where cold
targets reach --ratio (0.5: issue 13's goal) of warm targets' NDCG@10 (by NDCG@10 over all
cases alone the pick is "never show a new item": cold 0). Then test NDCG@10 all / cold /
warm at that offset.

    .venv/bin/python benchmarks/cold_ensemble.py --seeds 0 1 2
    .venv/bin/python benchmarks/cold_ensemble.py --dataset ml-100k --seeds 0 1 2
    .venv/bin/python benchmarks/cold_ensemble.py --blend    # members with the LM blend
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from beauty import make_split  # noqa: E402
from common import RUNS, load_named, write_result  # noqa: E402
from shelflm.evaluation.exposure import DEFAULT_OFFSETS, fit_offset, ndcg_by_subset, ranks_by_offset  # noqa: E402
from shelflm.evaluation.protocol import item_popularity  # noqa: E402
from shelflm.evaluation.served import ServedRecommender  # noqa: E402
from shelflm.serving.ensemble import Ensemble, Member, blended  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.training.trainer import subsample_cases  # noqa: E402


def text_weight(tag: str, blend: bool) -> float:
    """With `blend`, the LM similarity weight the carry run picked on its validation cases."""
    if not blend:
        return 0.0
    return json.loads((RUNS / "results" / f"{tag}.json").read_text())["blended"]["text_weight"]


def run(dataset_name: str, seed: int, offsets: tuple[float, ...], cold_model: str,
        ratio: float, blend: bool = False) -> dict:
    """One seed: the served ensemble (shelflm.serving.ensemble), its offset picked on
    validation (shelflm.evaluation.exposure, as `shelflm ensemble` does), then test."""
    data = "beauty" if dataset_name == "amazon-beauty" else dataset_name.replace("-", "")
    split = make_split(load_named(dataset_name), 0.1, seed)
    warm = item_popularity(split.train) > 0
    trained = {str(i) for i in np.asarray(split.train.catalog.ids)[warm]}
    tags = [f"{data}-carry-{name}-s{seed}" for name in ("base", cold_model)]
    members = [Member("members/trained", "trained", text_weight=text_weight(tags[0], blend)),
               Member("members/new-items", "untrained",
                      text_weight=text_weight(tags[1], blend))]
    # load_ensemble's wrapping, from the run folders instead of an ensemble directory
    models = blended([load_artifact(RUNS / "artifacts" / t) for t in tags], members)
    served = ServedRecommender(Ensemble(models, members, trained), "cold-ensemble")
    valid_cases = subsample_cases(split.valid, 3000, 0)
    best, valid = fit_offset(served, ~warm, valid_cases, offsets, ratio)
    test = ranks_by_offset(served, ~warm, split.test, (best,))[best]
    name = f"{data}-cold-ensemble-{cold_model}" + ("-blended" if blend else "")
    return {"tag": f"{name}-s{seed}", "offset": best, "valid_by_offset": valid,
            **{f"test_{k}": v for k, v in ndcg_by_subset(
                test, split.test.target_is_cold).items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="amazon-beauty", choices=["amazon-beauty", "ml-100k"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--cold-model", default="textonly", help="the carry variant scoring cold "
                   "items (textonly, textonly-moe)")
    p.add_argument("--blend", action="store_true", help="both members with the LM similarity "
                   "blended in (each at the weight its run picked on validation)")
    p.add_argument("--ratio", type=float, default=0.5, help="cold / warm validation NDCG@10 "
                   "an offset must reach to be picked")
    p.add_argument("--offsets", type=float, nargs="+", default=list(DEFAULT_OFFSETS))
    args = p.parse_args()
    rows = []
    for seed in args.seeds:
        result = run(args.dataset, seed, tuple(args.offsets), args.cold_model, args.ratio,
                     args.blend)
        write_result(result["tag"], result)
        rows.append(result)
        print(json.dumps(result), flush=True)
    for key in ("test_all", "test_cold", "test_warm"):
        values = [r[key] for r in rows]
        spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
        print(f"{key} NDCG@10: {np.mean(values):.4f} ± {spread:.4f} "
              f"({' / '.join(f'{v:.4f}' for v in values)})")


if __name__ == "__main__":
    main()
