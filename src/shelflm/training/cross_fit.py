"""Training and scoring of the cross-encoder (models/cross_encoder.py) on PairTexts.

Loss = BCE(like logit, liked) + rating_weight * MSE(rating, the event's value). The
weights kept are those of the epoch with the lowest BCE on a dev share of the training
cases themselves, the untrained start (the like-rate prior) included: in the few-shot
protocol no labelled case outside the training draw may steer the fit, and with a handful
of cases the text part can fit noise that makes the prior worse. The report has each
epoch's train and dev losses and, when cases are given, their BCE and MSE too.
"""

from __future__ import annotations

import numpy as np
import torch

from shelflm.models.cross_encoder import CrossEncoder
from shelflm.text.history import PairTexts
from shelflm.training.config import CrossTrainConfig


def _forward(model: CrossEncoder, data: PairTexts, rows: np.ndarray
             ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(like logits, ratings, pairs cut to the budget) of the cases at `rows`."""
    batch, truncated = model.tokenize([data.histories[i] for i in rows],
                                      [data.candidates[i] for i in rows])
    logits, ratings = model(batch, torch.from_numpy(data.prior[rows]))
    return logits, ratings, truncated


def _losses(model: CrossEncoder, data: PairTexts, rows: np.ndarray
            ) -> tuple[torch.Tensor, torch.Tensor, int]:
    logits, ratings, truncated = _forward(model, data, rows)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.from_numpy(data.liked[rows]))
    rated = torch.from_numpy(~np.isnan(data.rating[rows]))
    mse = (torch.nn.functional.mse_loss(ratings[rated], torch.from_numpy(data.rating[rows])[rated])
           if rated.any() else ratings.sum() * 0)
    return bce, mse, truncated


def fit_cross(model: CrossEncoder, train: PairTexts, config: CrossTrainConfig,
              watch: dict[str, PairTexts] | None = None) -> dict:
    """Fit `model` on `train`; {"epochs": [per epoch: train, dev and each watched set's bce
    / mse], "best_epoch" (0: the start), "truncated": training pairs cut to the budget}."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(train))
    n_dev = int(round(len(train) * config.dev_fraction))
    dev, train = (train.take(order[:n_dev]), train.take(order[n_dev:])) if n_dev else (None, train)
    with torch.no_grad():
        rated = train.rating[~np.isnan(train.rating)]
        model.rating.bias.fill_(float(rated.mean()) if len(rated) else 0.0)
    heads = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("lm.")]
    lm = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("lm.")]
    optim = torch.optim.AdamW([{"params": heads, "lr": config.head_lr},
                               {"params": lm, "lr": config.lr}], weight_decay=0.0)
    report: dict = {"epochs": [], "truncated": 0, "best_epoch": 0 if dev else config.epochs}
    best = (evaluate_losses(model, dev)["bce"], model.own_state()) if dev else None
    watched = ({"dev": dev} if dev else {}) | (watch or {})
    for epoch in range(1, config.epochs + 1):
        sums = _train_epoch(model, train, config, optim, rng, report)
        row = {"train_bce": sums[0] / len(train), "train_mse": sums[1] / len(train)}
        for name, data in watched.items():
            row |= {f"{name}_{k}": v for k, v in evaluate_losses(model, data).items()}
        report["epochs"].append(row)
        if best is not None and row["dev_bce"] < best[0]:
            best, report["best_epoch"] = (row["dev_bce"], model.own_state()), epoch
    if best is not None:
        model.load_state_dict(best[1], strict=False)
    return report


def _train_epoch(model: CrossEncoder, train: PairTexts, config: CrossTrainConfig,
                 optim: torch.optim.Optimizer, rng: np.random.Generator, report: dict
                 ) -> np.ndarray:
    """One pass in a random order; the summed (bce, mse) over the cases."""
    model.train()
    order = rng.permutation(len(train))
    sums = np.zeros(2)
    for start in range(0, len(order), config.batch_size):
        rows = order[start:start + config.batch_size]
        bce, mse, truncated = _losses(model, train, rows)
        report["truncated"] += truncated
        optim.zero_grad()
        (bce + config.rating_weight * mse).backward()
        optim.step()
        sums += np.array([bce.item(), mse.item()]) * len(rows)
    return sums


def evaluate_losses(model: CrossEncoder, data: PairTexts) -> dict[str, float]:
    """Mean BCE and MSE over `data` (eval mode)."""
    probs, ratings, _ = predict_cross(model, data)
    return pair_losses(data, probs, ratings)


def pair_losses(data: PairTexts, probs: np.ndarray, ratings: np.ndarray) -> dict[str, float]:
    """Mean BCE of like probabilities and MSE of ratings (over the rated cases; NaN when
    none is) against the cases' labels."""
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    y = data.liked
    rated = ~np.isnan(data.rating)
    mse = float(np.mean((ratings[rated] - data.rating[rated]) ** 2)) if rated.any() else np.nan
    return {"bce": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), "mse": mse}


@torch.no_grad()
def predict_cross(model: CrossEncoder, data: PairTexts, batch_size: int = 64
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(like probabilities, ratings, pairs cut to the token budget) for every case."""
    model.eval()
    probs, ratings, truncated = [], [], 0
    for start in range(0, len(data), batch_size):
        logits, rating, cut = _forward(model, data, np.arange(start, min(start + batch_size,
                                                                         len(data))))
        probs.append(torch.sigmoid(logits).numpy())
        ratings.append(rating.numpy())
        truncated += cut
    return np.concatenate(probs), np.concatenate(ratings), truncated


def onnx_parity(model: CrossEncoder, scorer: object, data: PairTexts) -> float:
    """Largest absolute difference of like probabilities between the PyTorch `model` and
    its ONNX `scorer` (models/cross_onnx.py OnnxCrossEncoder) on `data`."""
    return float(np.abs(predict_cross(model, data)[0] - predict_cross(scorer, data)[0]).max())
