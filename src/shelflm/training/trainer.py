"""The training loop: next-item prediction at every position, early stopping on NDCG@10.

Each epoch shuffles users, batches their training sequences (similar lengths together, so
little padding is computed), and fits every position to predict the next item with the
chosen ranking loss, plus the optional adversarial and contrastive terms. After each
evaluation the validation NDCG@10 decides whether to keep the weights; training stops
after `patience` evaluations without a gain and the best weights are restored.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from shelflm.evaluation.protocol import RankingEvaluator, item_popularity
from shelflm.models.shelf_model import ShelfModel
from shelflm.training.config import TrainConfig
from shelflm.training.continual import Distiller
from shelflm.training.lm_cache import CachedItemTable
from shelflm.training.losses import build_ranking_loss
from shelflm.training.step import ExtraLoss, TableFn, step_loss

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.data.splits import EvalCases, Split
    from shelflm.training.recommender import ShelfRecommender


def training_sequences(train: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per user, time-ordered item and event indices of a Dataset's training events."""
    enc = train.encoded()
    order = np.lexsort((np.arange(len(enc)), enc["user"].to_numpy()))
    users = enc["user"].to_numpy()[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    items = np.split(enc["item"].to_numpy()[order], bounds)
    events = np.split(enc["event_idx"].to_numpy()[order], bounds)
    return items, events


def subsample_cases(cases: EvalCases, n: int | None, seed: int) -> EvalCases:
    """A fixed random subset of at most n evaluation cases (all when n is None)."""
    if n is None or len(cases.targets) <= n:
        return cases
    return cases.take(np.sort(np.random.default_rng(seed).choice(len(cases.targets), n,
                                                                   replace=False)))


@dataclass
class _Fit:
    """One `Trainer.fit` run: its data, loss, optimiser, evaluators and early-stopping state."""

    rec: ShelfRecommender
    split: Split
    seqs: list[np.ndarray]
    evs: list[np.ndarray]
    lengths: np.ndarray
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    valid_eval: RankingEvaluator
    test_eval: RankingEvaluator | None
    rng: np.random.Generator
    progress: Progress
    table_fn: TableFn | None = None  # a step's item table; None: the whole catalog afresh
    distill: ExtraLoss | None = None  # the previous model's term (an update)
    best: float = -1.0
    best_state: dict | None = None
    since_best: int = 0
    started: float = field(default_factory=time.perf_counter)


def learnable_sequences(train: Dataset) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """training_sequences of the users with at least two events (one input, one target)."""
    seqs, evs = training_sequences(train)
    keep = [i for i, s in enumerate(seqs) if len(s) >= 2]
    if not keep:
        raise ValueError(f"{train.name}: no user has two training events to learn from")
    return [seqs[i] for i in keep], [evs[i] for i in keep]


@contextmanager
def _epoch_log(path: str | None) -> Iterator[TextIO | None]:
    """The JSON-lines epoch log at `path`, or None when there is none."""
    if not path:
        yield None
        return
    with open(path, "w") as log:
        yield log


class Trainer:
    """Fits a ShelfRecommender's model on a split; returns the per-epoch log records."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    def _batches(self, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(len(lengths))
        bs = self.config.batch_size
        # Sort within chunks of 32 batches: batches of similar length pad little, while the
        # chunking keeps the batch order random.
        chunk = bs * 32
        out = []
        for start in range(0, len(order), chunk):
            part = order[start:start + chunk]
            part = part[np.argsort(lengths[part], kind="stable")]
            out.extend(part[i:i + bs] for i in range(0, len(part), bs))
        rng.shuffle(out)
        return out

    @torch.no_grad()
    def _valid_loss(self, rec: ShelfRecommender, cases: EvalCases, n: int = 2048) -> float:
        part = subsample_cases(cases, n, seed=1)
        scores = torch.from_numpy(rec.score(part.users, part.histories, part.history_events))
        return float(F.cross_entropy(scores, torch.as_tensor(np.asarray(part.targets))))

    def _ranking_loss(self, train: Dataset) -> torch.nn.Module:
        cfg = self.config
        popularity = np.asarray(item_popularity(train))
        seen = popularity > 0 if cfg.seen_negatives_only else None
        return build_ranking_loss(cfg.loss, popularity, cfg.num_negatives, seen).to(cfg.device)

    def _optimizer(self, model: ShelfModel) -> torch.optim.Optimizer:
        """AdamW with its own learning rate for ID embeddings and for the LM tuner's weights."""
        cfg = self.config
        groups: dict[str, list] = {"ids": [], "lm": [], "rest": []}
        for n, p in model.named_parameters():
            if p.requires_grad:
                key = ("ids" if n.endswith("id_embedding.weight")
                       else "lm" if n.startswith("item_tower.tuner.") else "rest")
                groups[key].append(p)
        return torch.optim.AdamW(
            [{"params": groups["rest"]}, {"params": groups["ids"], "lr": cfg.lr * cfg.id_lr_scale},
             {"params": groups["lm"], "lr": cfg.lm_lr or cfg.lr}],
            lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _progress(self) -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        disable=not self.config.progress)

    def _start(self, rec: ShelfRecommender, split: Split) -> _Fit:
        """Seed, move the model to the device, and set up what every epoch uses."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        model = rec.model.to(cfg.device)
        seqs, evs = learnable_sequences(split.train)
        loss_fn = self._ranking_loss(split.train)
        valid = subsample_cases(split.valid, cfg.max_valid_cases, cfg.seed)
        valid_eval = RankingEvaluator(valid, ks=(10,))
        test_eval = RankingEvaluator(split.test, ks=(10, 20)) if cfg.evaluate_test else None
        lengths = np.array([len(s) for s in seqs])
        table_fn = None
        if cfg.lm_refresh_steps and model.item_tower.tuner is not None:
            # Its own generator: the batch order and dropout draws stay those of the seed.
            table_fn = CachedItemTable(cfg.lm_refresh_steps, cfg.lm_rows,
                                       np.random.default_rng(cfg.seed + 1))
        distill = None
        if cfg.distill_weight > 0:
            if not cfg.init_from:
                raise ValueError("TrainConfig: distill_weight needs init_from (the teacher)")
            distill = Distiller(Path(cfg.init_from), split.train.catalog, rec.text_vectors,
                                cfg.distill_weight)
        return _Fit(rec, split, seqs, evs, lengths, loss_fn, self._optimizer(model), valid_eval,
                    test_eval, rng, self._progress(), table_fn=table_fn, distill=distill)

    def _optimizer_step(self, run: _Fit, idx: np.ndarray, step: int) -> float:
        """One gradient step on the sequences `idx`; returns its loss."""
        model = run.rec.model
        loss = step_loss(self.config, model, run.loss_fn, [run.seqs[i] for i in idx],
                         [run.evs[i] for i in idx], run.rng, run.table_fn, run.distill)
        tuner = model.item_tower.tuner
        if tuner is not None:  # AdaLoRA's orthogonality term; 0 for others
            loss = loss + tuner.extra_loss()
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if tuner is not None:
            tuner.after_optimizer_step(step)
        return loss.item()

    def _train_epoch(self, run: _Fit, epoch: int) -> tuple[dict, TaskID]:
        """One pass over the users in random batches; the epoch's record and progress task."""
        batches = self._batches(run.lengths, run.rng)
        task = run.progress.add_task(f"{run.rec.name} epoch {epoch}", total=len(batches),
                                     status="")
        run.rec.model.train()
        total, t0 = 0.0, time.perf_counter()
        for step, idx in enumerate(batches, 1):
            total += self._optimizer_step(run, idx, step)
            run.progress.update(task, advance=1,
                                status=f"loss {total / step:.4f} best ndcg@10 {run.best:.4f}")
        run.rec.refresh()
        return {"epoch": epoch, "train_loss": total / len(batches),
                "epoch_seconds": time.perf_counter() - t0}, task

    def _validate(self, run: _Fit, record: dict) -> None:
        """Add validation (and test) metrics to `record`; keep the weights if they are best."""
        rec = run.rec
        rec.model.eval()
        metrics = run.valid_eval(rec)
        record.update({"valid_loss": self._valid_loss(rec, run.split.valid),
                       "valid_ndcg@10": metrics["ndcg@10"], "valid_hr@10": metrics["hr@10"]})
        if run.test_eval is not None:
            record.update({f"test_{k}": v for k, v in run.test_eval(rec).items()
                           if k.startswith(("ndcg", "hr"))})
        if metrics["ndcg@10"] > run.best:
            run.best, run.since_best = metrics["ndcg@10"], 0
            run.best_state = copy.deepcopy(rec.model.state_dict())
        else:
            run.since_best += 1

    def _epoch(self, run: _Fit, epoch: int, log: TextIO | None) -> dict:
        """Train one epoch, validate when due, show and log the epoch's record."""
        cfg = self.config
        record, task = self._train_epoch(run, epoch)
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            self._validate(run, record)
        record["elapsed_seconds"] = time.perf_counter() - run.started
        shown = record.get("valid_ndcg@10", float("nan"))
        run.progress.update(task, status=f"loss {record['train_loss']:.4f} "
                            f"valid ndcg@10 {shown:.4f}")
        if log:
            log.write(json.dumps(record) + "\n")
            log.flush()
        return record

    def _starting_point(self, run: _Fit, log: TextIO | None) -> dict:
        """Epoch 0: the initial weights validated, so early stopping can keep them."""
        run.rec.refresh()
        record = {"epoch": 0, "train_loss": float("nan"), "epoch_seconds": 0.0}
        self._validate(run, record)
        if log:
            log.write(json.dumps(record) + "\n")
        return record

    def _should_stop(self, run: _Fit, record: dict) -> bool:
        """No gain for `patience` evaluations, or the time budget spent."""
        cfg = self.config
        if run.since_best >= cfg.patience:
            return True
        return bool(cfg.time_budget_s and record["elapsed_seconds"] > cfg.time_budget_s)

    def fit(self, rec: ShelfRecommender, split: Split) -> list[dict]:
        """Train rec.model on split.train; early-stop on split.valid; return epoch records."""
        run = self._start(rec, split)
        records: list[dict] = []
        with _epoch_log(self.config.log_path) as log, run.progress:
            if self.config.init_from:  # an update keeps its start unless an epoch beats it
                records.append(self._starting_point(run, log))
            for epoch in range(1, self.config.epochs + 1):
                records.append(self._epoch(run, epoch, log))
                if self._should_stop(run, records[-1]):
                    break
        if run.best_state is not None:
            rec.model.load_state_dict(run.best_state)
        rec.refresh()
        rec.model.eval()
        return records
