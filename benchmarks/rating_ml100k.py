"""MovieLens-100K rating prediction, 5-fold CV with a fixed seed: RMSE/MAE per model.

Run: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/rating_ml100k.py [--folds 5] [--seed 0]
Reads ../shared/data/ml-100k (u.data, u.item) or --data; item text vectors are MiniLM
mean-pooled, normalised "title. Genres: ..." strings (--text-vectors reuses a saved .npy).
Prints a Markdown table; --json writes the results. Model names: global_mean, biased_mf,
rating_model_id (no text), rating_model (one seed), rating_model_x3 (3-seed average).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from shelflm.data.loaders.movielens_100k import load_movielens_100k
from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import encode
from shelflm.evaluation.rating import RatingData, cross_validate_ratings
from shelflm.models.rating import BiasedMF, RatingModel, RatingTrainConfig, SeedEnsemble

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-100k"


def load_ml100k(folder: Path) -> tuple[RatingData, list[str]]:
    """Ratings in Dataset index space and one "title. Genres: ..." text per movie."""
    dataset = load_movielens_100k(folder)
    texts = []
    for row in dataset.catalog.items.itertuples(index=False):
        genres = json.loads(row.attributes or "{}").get("genres", [])
        texts.append(f"{row.title}. Genres: {', '.join(genres)}")
    return RatingData.from_dataset(dataset), texts


class GlobalMean:
    """Every rating predicted as the training mean."""

    def fit(self, train: RatingData) -> None:
        """Remember the mean training rating."""
        self.mean = float(train.ratings.mean())

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The mean, once per (user, item) pair."""
        return np.full(len(users), self.mean, dtype=np.float32)


def text_vectors(texts: list[str], batch_size: int = 128) -> np.ndarray:
    """Normalised mean-pooled MiniLM vectors, (n, 384) float32."""
    return encode(texts, EncoderConfig(max_length=64, batch_size=batch_size))


def main() -> None:
    """Cross-validate the rating models on ML-100K and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="global_mean,biased_mf,rating_model_x3")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with u.data, u.item")
    parser.add_argument("--text-vectors", type=Path, default=None, help="cached (1682, d) .npy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "u.data").is_file():
        raise SystemExit(f"{args.data}: ML-100K not found (u.data)")
    data, texts = load_ml100k(args.data)
    t0 = time.perf_counter()
    if args.text_vectors is not None:
        vectors = np.load(args.text_vectors)
    else:
        vectors = text_vectors(texts)
        print(f"encoded {len(texts)} item texts in {time.perf_counter() - t0:.1f}s", flush=True)

    cfg = RatingTrainConfig(threads=args.threads)
    # Biased MF preferred stronger L2 on inner validation (0.1 vs the text model's 0.035).
    mf_cfg = RatingTrainConfig(threads=args.threads, embedding_l2=0.1, dim=64)
    factories = {
        "global_mean": GlobalMean,
        "biased_mf": lambda: BiasedMF(mf_cfg),
        "rating_model_id": lambda: RatingModel(cfg),
        "rating_model": lambda: RatingModel(cfg, vectors),
        "rating_model_x3": lambda: SeedEnsemble(lambda c: RatingModel(c, vectors), cfg, 3),
    }
    results = {}
    print("| model | RMSE mean ± std | MAE mean ± std | seconds |\n|---|---|---|---|")
    for name in args.models.split(","):
        t0 = time.perf_counter()
        res = cross_validate_ratings(factories[name], data, args.folds, args.seed, clip=(1, 5))
        res["seconds"] = time.perf_counter() - t0
        results[name] = res
        print(f"| {name} | {res['rmse_mean']:.4f} ± {res['rmse_std']:.4f} | "
              f"{res['mae_mean']:.4f} ± {res['mae_std']:.4f} | {res['seconds']:.0f} |",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
