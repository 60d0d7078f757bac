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
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from shelflm.models.shelf_model import pad_left
from shelflm.training.adversarial import adversarial_loss
from shelflm.training.augment import augment, info_nce
from shelflm.training.config import TrainConfig
from shelflm.training.losses import SampledSoftmaxLoss, build_ranking_loss

if TYPE_CHECKING:
    from shelflm.data.splits import EvalCases, Split
    from shelflm.models.shelf_model import ShelfRecommender


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
    idx = np.sort(np.random.default_rng(seed).choice(len(cases.targets), n, replace=False))
    return type(cases)(
        users=np.asarray(cases.users)[idx], targets=np.asarray(cases.targets)[idx],
        histories=[cases.histories[i] for i in idx],
        history_events=[cases.history_events[i] for i in idx],
        target_is_cold=np.asarray(cases.target_is_cold)[idx],
    )


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

    def _step_loss(self, rec: ShelfRecommender, loss_fn: torch.nn.Module, seqs: list,
                   evs: list, rng: np.random.Generator) -> torch.Tensor:
        model, cfg = rec.model, self.config
        max_len = model.config.sequence.max_len
        # Inputs are items 0..n-2, targets items 1..n-1, over the last max_len + 1 items.
        cut = [s[-(max_len + 1):] for s in seqs]
        cut_ev = [e[-(max_len + 1):] for e in evs]
        dev = cfg.device
        inp = torch.from_numpy(pad_left([s[:-1] for s in cut], model.pad_index, max_len)).to(dev)
        tgt = torch.from_numpy(pad_left([s[1:] for s in cut], model.pad_index, max_len)).to(dev)
        ev = torch.from_numpy(pad_left([e[:-1] for e in cut_ev], 0, max_len)).to(dev)
        where = tgt != model.pad_index
        targets = tgt[where]
        if isinstance(loss_fn, SampledSoftmaxLoss):
            # Encode only the rows this step touches (inputs, targets, negatives): the
            # point of sampling is never to run the item tower over the whole catalog.
            negatives = loss_fn.sample().to(dev)
            rows, local = torch.unique(torch.cat([inp.flatten(), targets, negatives]),
                                       return_inverse=True)
            rows = rows[rows < model.pad_index]  # padding sorts last; it is not an item
            table = model.item_tower(rows)
            n_inp, n_tgt = inp.numel(), len(targets)
            inp = torch.where(inp == model.pad_index, len(rows), local[:n_inp].view(inp.shape))
            local_tgt, local_neg = local[n_inp:n_inp + n_tgt], local[n_inp + n_tgt:]

            def base(u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return loss_fn.loss_from_logits(loss_fn.logits_from_vectors(
                    u, t[local_tgt], t[local_neg], targets, negatives))
        else:
            table = model.item_tower.all_items()

            def base(u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return loss_fn(u, targets, t)
        user = model.states(inp, ev, table)[where]
        loss = base(user, table)
        if cfg.text_only_weight > 0:
            if isinstance(loss_fn, SampledSoftmaxLoss):
                raise ValueError("TrainConfig.text_only_weight needs a full-table loss, not "
                                 "sampled_softmax")
            text_table = model.item_tower.all_items(text_only=True)
            text_user = model.states(inp, ev, text_table)[where]
            loss = loss + cfg.text_only_weight * base(text_user, text_table)
        adv = cfg.adversarial
        if adv.enabled and adv.target == "inputs":
            def perturbed(deltas: list[torch.Tensor]) -> torch.Tensor:
                return base(model.states(inp, ev, table, deltas[0])[where], table)
            loss = loss + adversarial_loss(adv, perturbed, [(*inp.shape, table.shape[1])], dev)
        elif adv.enabled:
            def perturbed(deltas: list[torch.Tensor]) -> torch.Tensor:
                return base(user + deltas[0], table + deltas[1])
            loss = loss + adversarial_loss(adv, perturbed, [user.shape, table.shape], dev)
        aug = cfg.augment
        if aug.weight > 0 and len(seqs) > 1:
            full_table = model.item_tower.all_items
            views = []
            for _ in range(2):
                vs = [augment(s[-max_len:], aug, model.mask_index, rng) for s in seqs]
                items = torch.from_numpy(pad_left(vs, model.pad_index, max_len)).to(dev)
                # Views index the whole catalog (a sampled step's table holds only some rows).
                full = table if not isinstance(loss_fn, SampledSoftmaxLoss) else full_table()
                views.append(model.states(items, torch.zeros_like(items), full)[:, -1])
            loss = loss + aug.weight * info_nce(views[0], views[1], aug.temperature)
        return loss

    @torch.no_grad()
    def _valid_loss(self, rec: ShelfRecommender, cases: EvalCases, n: int = 2048) -> float:
        part = subsample_cases(cases, n, seed=1)
        scores = torch.from_numpy(rec.score(part.users, part.histories, part.history_events))
        return float(F.cross_entropy(scores, torch.as_tensor(np.asarray(part.targets))))

    def fit(self, rec: ShelfRecommender, split: Split) -> list[dict]:
        """Train rec.model on split.train; early-stop on split.valid; return epoch records."""
        from shelflm.evaluation.protocol import RankingEvaluator, item_popularity

        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        model = rec.model.to(cfg.device)
        seqs, evs = training_sequences(split.train)
        keep = [i for i, s in enumerate(seqs) if len(s) >= 2]
        if not keep:
            raise ValueError(f"{split.train.name}: no user has two training events to learn from")
        seqs, evs = [seqs[i] for i in keep], [evs[i] for i in keep]
        lengths = np.array([len(s) for s in seqs])
        popularity = np.asarray(item_popularity(split.train))
        seen = popularity > 0 if cfg.seen_negatives_only else None
        loss_fn = build_ranking_loss(cfg.loss, popularity, cfg.num_negatives, seen).to(cfg.device)
        valid = subsample_cases(split.valid, cfg.max_valid_cases, cfg.seed)
        evaluate = RankingEvaluator(valid, ks=(10,))
        test_eval = RankingEvaluator(split.test, ks=(10, 20)) if cfg.evaluate_test else None
        groups: dict[str, list] = {"ids": [], "lm": [], "rest": []}
        for n, p in model.named_parameters():
            if p.requires_grad:
                key = ("ids" if n.endswith("id_embedding.weight")
                       else "lm" if n.startswith("item_tower.tuner.") else "rest")
                groups[key].append(p)
        opt = torch.optim.AdamW(
            [{"params": groups["rest"]}, {"params": groups["ids"], "lr": cfg.lr * cfg.id_lr_scale},
             {"params": groups["lm"], "lr": cfg.lm_lr or cfg.lr}],
            lr=cfg.lr, weight_decay=cfg.weight_decay)
        log = open(cfg.log_path, "w") if cfg.log_path else None  # noqa: SIM115
        records: list[dict] = []
        best, best_state, since_best, started = -1.0, None, 0, time.perf_counter()
        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                            disable=not cfg.progress)
        try:
            with progress:
                for epoch in range(1, cfg.epochs + 1):
                    batches = self._batches(lengths, rng)
                    task = progress.add_task(f"{rec.name} epoch {epoch}", total=len(batches),
                                             status="")
                    model.train()
                    total, t0 = 0.0, time.perf_counter()
                    for step, idx in enumerate(batches, 1):
                        loss = self._step_loss(rec, loss_fn, [seqs[i] for i in idx],
                                               [evs[i] for i in idx], rng)
                        tuner = model.item_tower.tuner
                        if tuner is not None:  # AdaLoRA's orthogonality term; 0 for others
                            loss = loss + tuner.extra_loss()
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        if tuner is not None:
                            tuner.after_optimizer_step(step)
                        total += loss.item()
                        progress.update(task, advance=1,
                                        status=f"loss {total / step:.4f} best ndcg@10 {best:.4f}")
                    rec.refresh()
                    record = {"epoch": epoch, "train_loss": total / len(batches),
                              "epoch_seconds": time.perf_counter() - t0}
                    if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                        model.eval()
                        metrics = evaluate(rec)
                        record.update({"valid_loss": self._valid_loss(rec, split.valid),
                                       "valid_ndcg@10": metrics["ndcg@10"],
                                       "valid_hr@10": metrics["hr@10"]})
                        if test_eval is not None:
                            record.update({f"test_{k}": v for k, v in test_eval(rec).items()
                                           if k.startswith(("ndcg", "hr"))})
                        if metrics["ndcg@10"] > best:
                            best, since_best = metrics["ndcg@10"], 0
                            best_state = copy.deepcopy(model.state_dict())
                        else:
                            since_best += 1
                    record["elapsed_seconds"] = time.perf_counter() - started
                    records.append(record)
                    shown = record.get("valid_ndcg@10", float("nan"))
                    progress.update(task, status=f"loss {record['train_loss']:.4f} "
                                    f"valid ndcg@10 {shown:.4f}")
                    if log:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    if since_best >= cfg.patience:
                        break
                    if cfg.time_budget_s and record["elapsed_seconds"] > cfg.time_budget_s:
                        break
        finally:
            if log:
                log.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        rec.refresh()
        model.eval()
        return records
