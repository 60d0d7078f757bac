"""MovieLens-100K rating prediction with the cross-encoder's rating head, on the same 5 folds
as benchmarks/rating_ml100k.py (evaluation/rating.py kfold_indices, seed 0).

A case is one rating: the text of the user's last `--last-k` training-fold ratings before
it (liked = rating > 3, most recent first) paired with the movie's "title. Genres: ..."
text; the like prior is the history's liked share. Per fold and seed, a fresh cross-encoder
(MiniLM + LoRA) is fitted on `--cases` training-fold ratings drawn at random (loss = BCE +
`--rating-weight` x MSE, the epoch picked on a dev share of those cases), then predicts
every test-fold rating (or a --test-limit draw of them; ONNX, one thread; --int8: its
int8 copy, as served), clipped to [1, 5].

    .venv/bin/python benchmarks/cross_rating.py --seeds 0 --cases 1000 --int8 --test-limit 5000
    .venv/bin/python benchmarks/cross_rating.py --report
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RUNS, write_result  # noqa: E402
from rating_ml100k import DATA, load_ml100k  # noqa: E402
from shelflm.data.loaders.movielens_100k import load_movielens_100k  # noqa: E402
from shelflm.evaluation.rating import kfold_indices, rmse  # noqa: E402
from shelflm.models.cross_artifact import build_cross_encoder  # noqa: E402
from shelflm.models.cross_config import CrossEncoderConfig  # noqa: E402
from shelflm.models.cross_onnx import (  # noqa: E402
    OnnxCrossEncoder,
    export_cross_encoder,
    quantize_cross_encoder,
)
from shelflm.text.history import HistoryTextConfig, PairTexts, history_text  # noqa: E402
from shelflm.training.config import CrossTrainConfig  # noqa: E402
from shelflm.training.cross_fit import fit_cross, predict_cross  # noqa: E402

RATING_MODEL = 0.9020  # RESULTS: RatingModel, 3-seed ensemble, the same folds


def pairs(rows: np.ndarray, train: np.ndarray, users: np.ndarray, items: np.ndarray,
          ratings: np.ndarray, times: np.ndarray, texts: list[str],
          config: HistoryTextConfig) -> PairTexts:
    """A case per rating in `rows`: its user's training ratings before it (by time)."""
    order = train[np.lexsort((train, times[train]))]  # training rows by time, stable
    by_user: dict[int, np.ndarray] = {}
    for u in np.unique(users[order]):
        by_user[int(u)] = order[users[order] == u]
    titles = np.asarray(texts, object)
    hist, prior = [], []
    for r in rows:
        past = by_user.get(int(users[r]), np.zeros(0, np.int64))
        past = past[times[past] < times[r]][-config.last_k:]
        liked = ratings[past] > 3
        hist.append(history_text(titles[items[past]], liked, config, ids=items[past]))
        share = (liked.sum() + 1) / (len(liked) + 2)
        prior.append(np.log(share / (1 - share)))
    return PairTexts(hist, [texts[i] for i in items[rows]], np.asarray(prior, np.float32),
                     (ratings[rows] > 3).astype(np.float32), ratings[rows].astype(np.float32))


def run(fold: int, seed: int, args: argparse.Namespace) -> dict:
    data, texts = load_ml100k(DATA)
    times = _times(data)
    parts = kfold_indices(len(data), 5, 0)
    test = parts[fold]
    train = np.setdiff1d(np.arange(len(data)), test)
    if args.test_limit and len(test) > args.test_limit:  # a seeded draw of the test fold
        test = np.sort(np.random.default_rng(fold).choice(test, args.test_limit, replace=False))
    rng = np.random.default_rng(seed)
    drawn = np.sort(rng.choice(train, args.cases, replace=False))
    history = HistoryTextConfig(last_k=args.last_k)
    args_ = (data.users, data.items, data.ratings, times, texts, history)
    fit_set, test_set = pairs(drawn, train, *args_), pairs(test, train, *args_)
    torch.manual_seed(seed)
    model = build_cross_encoder(CrossEncoderConfig(max_length=128, history=history))
    start = time.perf_counter()
    report = fit_cross(model, fit_set, CrossTrainConfig(
        epochs=args.epochs, rating_weight=args.rating_weight, seed=seed))
    out = {"fold": fold, "seed": seed, "train_seconds": time.perf_counter() - start,
           "best_epoch": report["best_epoch"], "cases": args.cases, "int8": args.int8,
           "test_ratings": len(test)}
    with tempfile.TemporaryDirectory() as tmp:
        graph = export_cross_encoder(model, Path(tmp) / "ce.onnx")
        if args.int8:
            graph = quantize_cross_encoder(graph, Path(tmp) / "ce.int8.onnx")
        scorer = OnnxCrossEncoder(graph, model)
        start = time.perf_counter()
        _, predicted, _ = predict_cross(scorer, test_set)
        out["test_seconds"] = time.perf_counter() - start
    out["rmse"] = rmse(np.clip(predicted, 1, 5), test_set.rating)
    out["rmse_train_mean"] = rmse(np.full(len(test), fit_set.rating.mean()), test_set.rating)
    return out


def _times(data: object) -> np.ndarray:
    """Each rating's timestamp, aligned with RatingData's rows (the Dataset's order)."""
    enc = load_movielens_100k(DATA).encoded()
    return enc[enc["event"] == "rating"]["timestamp"].to_numpy()


def report() -> None:
    rows = [r for p in sorted((RUNS / "results").glob("cross-rating-*.json"))
            for r in json.loads(p.read_text())["runs"]]
    if not rows:
        return
    by_seed = {}
    for r in rows:
        by_seed.setdefault(r["seed"], []).append(r)
    print("| seed | folds | RMSE (mean over folds) | train-mean RMSE | train s | test s |")
    print("|---|---|---|---|---|---|")
    for seed, got in sorted(by_seed.items()):
        print(f"| {seed} | {len(got)} | {np.mean([r['rmse'] for r in got]):.4f} | "
              f"{np.mean([r['rmse_train_mean'] for r in got]):.4f} | "
              f"{np.median([r['train_seconds'] for r in got]):.0f} | "
              f"{np.median([r['test_seconds'] for r in got]):.0f} |")
    means = [np.mean([r["rmse"] for r in g]) for g in by_seed.values()]
    spread = np.std(means, ddof=1) if len(means) > 1 else 0
    print(f"\nover seeds: {np.mean(means):.4f} ± {spread:.4f} (RatingModel: {RATING_MODEL})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--cases", type=int, default=2000, help="training ratings drawn per fit")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rating-weight", type=float, default=1.0)
    p.add_argument("--last-k", type=int, default=10)
    p.add_argument("--test-limit", type=int, default=None,
                   help="score a random draw of this many test-fold ratings (seeded by fold)")
    p.add_argument("--int8", action="store_true", help="score on the int8 graph (as served)")
    p.add_argument("--report", action="store_true")
    args = p.parse_args()
    if not args.report:
        torch.set_num_threads(1)
        for seed in args.seeds:
            for fold in args.folds:
                row = run(fold, seed, args)
                print(json.dumps(row), flush=True)
                write_result(f"cross-rating-f{fold}-s{seed}", {"runs": [row]})
    report()


if __name__ == "__main__":
    main()
