"""Contrastive tuning of the query side on (query, item) pairs: a shop's search log or intent
annotations teach the query encoder what its shoppers mean, while the items keep the frozen
language model's text vectors (so the catalog, the index and new items are untouched).

Any fine-tuning method of encoders.peft works (the adaptor head by default: a training step
never runs the language model). Its "items" are the distinct training queries. Loss: the
softmax over the whole catalog (InfoNCE, temperature tau) of each pair's item, with the
query's other relevant items masked out; the best epoch on held-out queries is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from shelflm.encoders.peft.base import ItemTuner
from shelflm.encoders.peft.registry import build_tuner, make_config
from shelflm.text.templates import QueryTemplate


@dataclass
class QueryTuningConfig:
    """How the query tuner trains."""

    method: str = field(default="adaptor", metadata={
        "help": "Fine-tuning method of encoders.peft (adaptor, lora, adalora, top_layers)."})
    options: dict = field(default_factory=dict, metadata={
        "help": "The method's own config fields (e.g. {'rank': 8} for lora)."})
    epochs: int = field(default=30, metadata={"help": "Most passes over the pairs."})
    patience: int = field(default=3, metadata={
        "help": "Stop after this many epochs without a better held-out recall@10."})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=64, metadata={"help": "Pairs per step."})
    temperature: float = field(default=0.05, metadata={"help": "InfoNCE temperature."})
    valid_share: float = field(default=0.1, metadata={
        "help": "Share of distinct queries held out to pick the epoch (0: train them all, "
                "every epoch kept)."})
    seed: int = field(default=0, metadata={"help": "Seeds the split, the order and the init."})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("QueryTuningConfig: epochs, batch_size and patience must be >= 1")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError("QueryTuningConfig: lr and temperature must be > 0")
        if not 0.0 <= self.valid_share < 1.0:
            raise ValueError(f"QueryTuningConfig: valid_share must be in [0, 1), got "
                             f"{self.valid_share}")


@dataclass
class QueryFit:
    """A trained query tuner and how its held-out recall@10 went, epoch by epoch (epoch 0:
    the tuner as initialised, close to the frozen model; best_epoch 0: training never did
    better on the held-out queries, and the frozen model should serve)."""

    tuner: ItemTuner
    queries: int
    pairs: int
    valid_recall: list[float]
    best_epoch: int


def grouped(pairs: Sequence[tuple[str, int]], num_items: int) -> tuple[list[str], list[set]]:
    """Distinct queries (first-seen order) and the set of item rows each is paired with."""
    index: dict[str, int] = {}
    items: list[set] = []
    for n, (query, row) in enumerate(pairs):
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"pair {n}: the query is empty")
        if not 0 <= int(row) < num_items:
            raise ValueError(f"pair {n}: item row {row} is outside the catalog of {num_items}")
        if query not in index:
            index[query] = len(items)
            items.append(set())
        items[index[query]].add(int(row))
    return list(index), items


def recall_at(tuner: ItemTuner, queries: np.ndarray, items: list[set], vectors: torch.Tensor,
              k: int = 10) -> float:
    """Mean share of each query's items among its k nearest catalog items."""
    if not len(queries):
        return float("nan")
    tuner.eval()
    with torch.no_grad():
        top = (tuner(torch.as_tensor(queries)) @ vectors.T).topk(k, dim=1).indices.numpy()
    return float(np.mean([len(items[q] & set(t)) / len(items[q])
                          for q, t in zip(queries, top, strict=True)]))


def _steps(tuner: ItemTuner, train: np.ndarray, items: list[set], vectors: torch.Tensor,
           opt: torch.optim.Optimizer, config: QueryTuningConfig, rng: np.random.Generator,
           step: int) -> int:
    """One epoch over the training queries' pairs; returns the step count."""
    pairs = np.array([(q, i) for q in train for i in sorted(items[q])], np.int64)
    tuner.train()
    for batch in np.array_split(rng.permutation(len(pairs)),
                                max(1, len(pairs) // config.batch_size)):
        q, target = torch.as_tensor(pairs[batch, 0]), torch.as_tensor(pairs[batch, 1])
        logits = tuner(q) @ vectors.T / config.temperature
        others = torch.zeros_like(logits, dtype=torch.bool)
        for r, query in enumerate(pairs[batch, 0]):
            others[r, list(items[query])] = True
        others[torch.arange(len(batch)), target] = False
        loss = F.cross_entropy(logits.masked_fill(others, float("-inf")), target)
        loss = loss + tuner.extra_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        tuner.after_optimizer_step(step)
    return step


def fit_query_tuner(pairs: Sequence[tuple[str, int]], item_vectors: np.ndarray,
                    config: QueryTuningConfig | None = None) -> QueryFit:
    """Train a query tuner so that each query lands near its paired items' text vectors
    (`item_vectors`: the catalog's unit LM vectors, row = item row of the pairs)."""
    config = config or QueryTuningConfig()
    queries, items = grouped(pairs, len(item_vectors))
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    rendered = [QueryTemplate().render(q) for q in queries]
    tuner = build_tuner(make_config(config.method, **config.options), rendered)
    vectors = F.normalize(torch.as_tensor(np.asarray(item_vectors, np.float32)), dim=-1)
    order = rng.permutation(len(queries))
    n_valid = int(round(config.valid_share * len(queries)))
    valid, train = order[:n_valid], order[n_valid:]
    if not len(train):
        raise ValueError("query tuning needs at least one training query")
    opt = torch.optim.AdamW(tuner.trainable_parameters(), lr=config.lr,
                            weight_decay=config.weight_decay)
    history = [recall_at(tuner, valid, items, vectors)]  # epoch 0: as initialised
    best, best_epoch, step = _state(tuner), 0, 0
    for epoch in range(1, config.epochs + 1):
        step = _steps(tuner, train, items, vectors, opt, config, rng, step)
        history.append(recall_at(tuner, valid, items, vectors))
        if not n_valid or history[-1] > history[best_epoch]:
            best, best_epoch = _state(tuner), epoch
        elif epoch - best_epoch >= config.patience:
            break
    tuner.load_state_dict(best, strict=False)
    tuner.eval()
    return QueryFit(tuner, len(queries), sum(len(s) for s in items), history, best_epoch)


def _state(tuner: ItemTuner) -> dict[str, torch.Tensor]:
    """A copy of the trainable tensors, by module path (what load_state_dict takes back)."""
    return {n: p.detach().clone() for n, p in tuner.named_parameters() if p.requires_grad}
