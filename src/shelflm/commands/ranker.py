"""`shelflm train --model cross-encoder` and `shelflm evaluate` of what it writes: the
second stage over a retrieval artifact's top N (training/rerank.py), saved with its ONNX
export (what `shelflm serve` scores with, [serving.rerank])."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from shelflm.settings import ARTIFACT_KEY, ShelfConfig, artifact_record
from shelflm.training.config import RankerConfig

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import Split

RETRIEVAL_KEY = "retrieval"  # the retrieval artifact, relative to the ranker's directory
RANKER_FORMAT = "shelflm-cross-encoder"  # models/cross_artifact.py FORMAT (torch-free here)


def is_ranker(artifact: Path) -> bool:
    """Whether `artifact` holds a cross-encoder ranker (read from its config.json alone)."""
    try:
        return json.loads((artifact / "config.json").read_text()).get("format") == RANKER_FORMAT
    except (OSError, ValueError):
        return False


def _retrieval(path: Path, dataset: Dataset, hint: str) -> object:
    """The retrieval artifact at `path` as an evaluation Recommender over `dataset`."""
    # Deferred: loading an artifact loads torch (see shelflm.commands).
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.runtime import load_artifact

    if not (path / "config.json").is_file() or is_ranker(path):
        raise typer.BadParameter(f"{path}: not a retrieval artifact of `shelflm train`",
                                 param_hint=hint)
    try:
        return ServedRecommender(load_artifact(path).on_catalog(dataset.catalog), "retrieval")
    except ValueError as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint=hint) from exc


def train_ranker(cfg: ShelfConfig, dataset: Dataset, split: Split, retrieval: Path | None,
                 out: Path) -> None:
    """Fit on the split's validation cases, report train / dev / test losses, save."""
    if retrieval is None:
        raise typer.BadParameter("the cross-encoder reranks a retrieval artifact's top N: "
                                 "name one (from `shelflm train`)", param_hint="--retrieval")
    first = _retrieval(retrieval, dataset, "--retrieval")
    # Deferred: the cross-encoder is torch.
    from shelflm.models.cross_artifact import ONNX, ONNX_INT8, save_cross_encoder
    from shelflm.models.cross_onnx import OnnxCrossEncoder
    from shelflm.training.cross_fit import evaluate_losses, onnx_parity
    from shelflm.training.rerank import fit_ranker, ranker_pairs

    model, fit = fit_ranker(first, split.valid, dataset.catalog, cfg.ranker)
    rng = np.random.default_rng(cfg.ranker.training.seed)
    test, _ = ranker_pairs(first, split.test, dataset.catalog, cfg.ranker, rng)
    best = fit["epochs"][fit["best_epoch"] - 1] if fit["best_epoch"] else {}
    metrics = {"pairs": fit["pairs"], "best_epoch": fit["best_epoch"],
               "train_bce": best.get("train_bce"), "dev_bce": best.get("dev_bce"),
               "test_bce": evaluate_losses(model, test)["bce"], "test_pairs": len(test),
               "pairs_cut": fit["truncated"], "valid_targets_in_top_n": fit["targets_in_top_n"]}
    link = os.path.relpath(retrieval.resolve(), out.resolve())
    save_cross_encoder(model, out, "title", {RETRIEVAL_KEY: link, **artifact_record(cfg)},
                       onnx=True)
    sample = test.take(np.arange(min(64, len(test))))
    for name, file in (("onnx", ONNX), ("int8", ONNX_INT8)):  # like probabilities vs PyTorch
        metrics[f"{name}_max_diff"] = onnx_parity(model, OnnxCrossEncoder(out / file, model),
                                                  sample)
    (out / "metrics.json").write_text(json.dumps(metrics | {"epochs": fit["epochs"]},
                                                 indent=2) + "\n")
    typer.echo(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                           for k, v in metrics.items()}))


def evaluate_ranker(artifact: Path, dataset: Dataset, split: Split, retrieval: Path | None,
                    cases: int | None) -> dict[str, dict[str, float]]:
    """Test metrics of retrieval alone and reranked (at most `cases` test cases, a seeded
    draw), both through the full-ranking protocol."""
    # Deferred: the cross-encoder is torch.
    from shelflm.evaluation.protocol import evaluate_ranking, item_popularity
    from shelflm.models.cross_artifact import ONNX, read_cross_encoder
    from shelflm.models.cross_onnx import OnnxCrossEncoder
    from shelflm.training.rerank import RerankRecommender

    model, config = read_cross_encoder(artifact)
    first = _retrieval(retrieval or artifact / config[RETRIEVAL_KEY], dataset, "--retrieval")
    ranker = RankerConfig(**config.get(ARTIFACT_KEY, {}).get("ranker", {}))
    scorer = OnnxCrossEncoder(artifact / ONNX, model) if (artifact / ONNX).is_file() else model
    test = split.test
    if cases and len(test) > cases:
        test = test.take(np.sort(np.random.default_rng(0).choice(len(test), cases,
                                                                 replace=False)))
    popularity = item_popularity(split.train)
    both = {"retrieval": first, "reranked": RerankRecommender(
        first, scorer, dataset.catalog, ranker.candidates, model.config.history)}
    return {name: evaluate_ranking(rec, test, popularity=popularity)
            for name, rec in both.items()}
