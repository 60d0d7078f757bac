"""TALLRec's few-shot protocol on MovieLens-100K with shelflm's cross-encoder.

Cases are built from ../shared/data/ml-100k exactly as ../shared/data/README.md says (users
in u.data's order of first appearance, each user's events by time, liked = rating > 3,
history = the 10 events before; the last 10,000 cases cut 80 / 10 / 10 into train / valid /
test; the test cases equal tallrec-movie/test.json, tests/data/test_pair_cases.py checks).
For each budget (16, 64, 256 cases drawn from the train part, or all of it) and seed: a
fresh cross-encoder (MiniLM + LoRA by default) fitted with a fixed recipe, test AUC over
the 1,000 test cases. Nothing from the valid or test targets steers the fit; their losses
are only reported. Also the prior alone (the history's liked share, no training).

    .venv/bin/python benchmarks/tallrec.py --shots 16 64 256 --seeds 0 1 2 --tag tallrec-dev
    .venv/bin/python benchmarks/tallrec.py --report --tag tallrec-dev
    .venv/bin/python benchmarks/tallrec.py ... --dev-fraction 0 --tag tallrec  # last epoch
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RUNS, SHARED_DATA, load_ml100k, write_result  # noqa: E402
from shelflm.data.pair_cases import PairCases, like_logodds, pair_cases  # noqa: E402
from shelflm.models.cross_artifact import build_cross_encoder  # noqa: E402
from shelflm.models.cross_config import CrossEncoderConfig  # noqa: E402
from shelflm.text.history import HistoryTextConfig, PairTexts, pair_texts  # noqa: E402
from shelflm.training.config import CrossTrainConfig  # noqa: E402
from shelflm.training.cross_fit import fit_cross, pair_losses, predict_cross  # noqa: E402

PUBLISHED = {16: 67.24, 64: 67.48, 256: 71.98}  # TALLRec (LLaMA-7B + LoRA), AUC x 100


def tallrec_cases() -> tuple[object, dict[str, PairCases]]:
    """ML-100K and its TALLRec train / valid / test cases."""
    data = load_ml100k()
    raw = pd.read_csv(SHARED_DATA / "ml-100k" / "u.data", sep="\t", header=None,
                      names=["user_id", "item_id", "rating", "timestamp"], dtype=str)
    cases = pair_cases(data, 10, 3.0, list(dict.fromkeys(raw["user_id"])))
    last = cases.take(slice(len(cases) - 10_000, None))
    return data, {"train": last.take(slice(0, 8000)), "valid": last.take(slice(8000, 9000)),
                  "test": last.take(slice(9000, 10_000))}


def texts(data: object, cases: PairCases, history: HistoryTextConfig) -> PairTexts:
    items = data.catalog.items
    return pair_texts(cases, items["title"].tolist(), history, items["category"].tolist())


def run_one(data: object, split: dict, shots: int | None, seed: int, model_cfg:
            CrossEncoderConfig, train_cfg: CrossTrainConfig) -> dict:
    """One fit on `shots` train cases (None: all) and its test AUC."""
    rng = np.random.default_rng(seed)
    pool = split["train"]
    rows = np.arange(len(pool)) if shots is None else np.sort(rng.choice(len(pool), shots,
                                                                         replace=False))
    sets = {name: texts(data, c, model_cfg.history) for name, c in
            (("train", pool.take(rows)), ("valid", split["valid"]), ("test", split["test"]))}
    torch.manual_seed(seed)
    model = build_cross_encoder(model_cfg)
    t = time.perf_counter()
    fit = fit_cross(model, sets["train"], replace(train_cfg, seed=seed))
    seconds = time.perf_counter() - t
    out = {"shots": shots or len(pool), "seed": seed, "train_seconds": round(seconds, 1),
           "best_epoch": fit["best_epoch"], "train_loss": fit["epochs"][-1]}
    for name in ("valid", "test"):
        t = time.perf_counter()
        probs, ratings, cut = predict_cross(model, sets[name])
        out[f"{name}_ms_per_pair"] = round(1000 * (time.perf_counter() - t) / len(probs), 2)
        out |= {f"{name}_{k}": v for k, v in scores(sets[name], probs, ratings).items()}
        out[f"{name}_pairs_cut"] = cut
    return out


def scores(data: PairTexts, probs: np.ndarray, ratings: np.ndarray) -> dict[str, float]:
    """AUC, BCE and MSE of like probabilities and ratings against the cases' labels."""
    return {"auc": float(roc_auc_score(data.liked, probs)), **pair_losses(data, probs, ratings)}


def prior_auc(split: dict) -> float:
    """The like-rate prior alone (no training, no text)."""
    test = split["test"]
    return float(roc_auc_score(test.liked, like_logodds(test.history_liked)))


def report(tag: str) -> None:
    """Mean ± std over seeds per training budget, of every saved run of `tag`."""
    files = [p for p in sorted((RUNS / "results").glob(f"{tag}-*.json"))
             if p.stem[len(tag) + 1:].split("-")[0].isdigit() or p.stem[len(tag) + 1:]
             .startswith("all")]  # the tag's own runs, not those of a longer tag
    rows = [r for p in files for r in json.loads(p.read_text())["runs"]]
    print("| cases | seeds | test AUC x 100 | TALLRec | train s | test ms per pair |")
    print("|---|---|---|---|---|---|")
    for shots in sorted({r["shots"] for r in rows}):
        got = [r for r in rows if r["shots"] == shots]
        auc = [100 * r["test_auc"] for r in got]
        print(f"| {shots} | {len(got)} | {np.mean(auc):.2f} ± "
              f"{np.std(auc, ddof=1) if len(auc) > 1 else 0:.2f} | "
              f"{PUBLISHED.get(shots, '-')} | {np.median([r['train_seconds'] for r in got]):.0f} | "
              f"{np.median([r['test_ms_per_pair'] for r in got]):.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", nargs="+", default=["16", "64", "256"],
                   help="training cases per fit ('all': the whole train part)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tuning", default="lora", choices=["lora", "head", "full"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dev-fraction", type=float, default=0.25,
                   help="share of the drawn cases that picks the epoch (0: keep the last)")
    p.add_argument("--no-prior", action="store_true", help="like head without the like rate")
    p.add_argument("--last-k", type=int, default=10, help="history compression: events kept")
    p.add_argument("--item-chars", type=int, default=60, help="... each title cut to this")
    p.add_argument("--group", action="store_true", help="... grouped by genre")
    p.add_argument("--max-length", type=int, default=256, help="tokens of a pair")
    p.add_argument("--tag", default="tallrec")
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    if not args.report:
        torch.set_num_threads(1)
        data, split = tallrec_cases()
        history = HistoryTextConfig(last_k=args.last_k, item_chars=args.item_chars,
                                    group_by_category=args.group)
        model_cfg = CrossEncoderConfig(tuning=args.tuning, prior=not args.no_prior,
                                       max_length=args.max_length, history=history)
        train_cfg = CrossTrainConfig(epochs=args.epochs, dev_fraction=args.dev_fraction)
        out = {"prior_auc": prior_auc(split), "config": model_cfg.to_dict(), "runs": []}
        print(f"prior alone: test AUC {100 * out['prior_auc']:.2f}", flush=True)
        for shots in args.shots:
            for seed in args.seeds:
                row = run_one(data, split, None if shots == "all" else int(shots), seed,
                              model_cfg, train_cfg)
                out["runs"].append(row)
                print(json.dumps(row), flush=True)
        write_result(f"{args.tag}-{'-'.join(args.shots)}-s{'-'.join(map(str, args.seeds))}", out)
    report(args.tag)


if __name__ == "__main__":
    main()
