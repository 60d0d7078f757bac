"""The loss of one training step: next-item prediction at every position, plus the terms.

`step_loss` pads a batch of user sequences, encodes the item rows the ranking loss needs
(the whole catalog, or with sampled softmax only the rows the step touches), and adds the
optional text-only, adversarial and contrastive terms the TrainConfig asks for. The order
of the random draws (dropout, negatives, augmentations) is part of the contract: the same
seed gives the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from shelflm.models.shelf_model import ShelfModel, pad_left
from shelflm.training.adversarial import adversarial_loss
from shelflm.training.augment import augment, info_nce
from shelflm.training.config import TrainConfig
from shelflm.training.losses import SampledSoftmaxLoss

# A step's ranking loss of (user states, item table), over whichever rows the step encoded.
BaseLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepInputs:
    """A batch as padded tensors: input items and events, and the next-item targets."""

    items: torch.Tensor  # (B, L) input item indices, left-padded with the pad index
    events: torch.Tensor  # (B, L) event indices of the inputs
    where: torch.Tensor  # (B, L) True where a position has a next item to predict
    targets: torch.Tensor  # (T,) that next item, for each True position in order


def step_inputs(model: ShelfModel, seqs: list[np.ndarray], evs: list[np.ndarray],
                device: str) -> StepInputs:
    """Inputs are items 0..n-2, targets items 1..n-1, over the last max_len + 1 items."""
    max_len = model.config.sequence.max_len
    cut = [s[-(max_len + 1):] for s in seqs]
    cut_ev = [e[-(max_len + 1):] for e in evs]
    inp = torch.from_numpy(pad_left([s[:-1] for s in cut], model.pad_index, max_len)).to(device)
    tgt = torch.from_numpy(pad_left([s[1:] for s in cut], model.pad_index, max_len)).to(device)
    ev = torch.from_numpy(pad_left([e[:-1] for e in cut_ev], 0, max_len)).to(device)
    where = tgt != model.pad_index
    return StepInputs(inp, ev, where, tgt[where])


def sampled_rows(model: ShelfModel, loss_fn: SampledSoftmaxLoss, batch: StepInputs,
                 device: str) -> tuple[torch.Tensor, BaseLoss, StepInputs, torch.Tensor]:
    """The item rows a sampled step touches, its loss over them, inputs indexing those rows,
    and the rows' catalog indices.

    Only inputs, targets and negatives are encoded: the point of sampling is never to run
    the item tower over the whole catalog.
    """
    inp, targets = batch.items, batch.targets
    negatives = loss_fn.sample().to(device)
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

    return table, base, replace(batch, items=inp), rows


def text_only_loss(model: ShelfModel, batch: StepInputs, base: BaseLoss) -> torch.Tensor:
    """The ranking loss with every item represented by its text part alone (cold items)."""
    text_table = model.item_tower.all_items(text_only=True)
    text_user = model.states(batch.items, batch.events, text_table)[batch.where]
    return base(text_user, text_table)


def perturbation_loss(config: TrainConfig, model: ShelfModel, batch: StepInputs,
                      base: BaseLoss, user: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """The adversarial term: the loss under worst-case small input or vector perturbations."""
    adv, dev = config.adversarial, config.device
    if adv.target == "inputs":
        def perturbed(deltas: list[torch.Tensor]) -> torch.Tensor:
            states = model.states(batch.items, batch.events, table, deltas[0])
            return base(states[batch.where], table)

        return adversarial_loss(adv, perturbed, [(*batch.items.shape, table.shape[1])], dev)

    def perturbed(deltas: list[torch.Tensor]) -> torch.Tensor:
        return base(user + deltas[0], table + deltas[1])

    return adversarial_loss(adv, perturbed, [user.shape, table.shape], dev)


def contrastive_loss(config: TrainConfig, model: ShelfModel, seqs: list[np.ndarray],
                     table: torch.Tensor | None, rng: np.random.Generator) -> torch.Tensor:
    """InfoNCE between two random augmentations of each sequence's last max_len items.

    Views index the whole catalog: `table` is it, or None after a sampled step (whose table
    holds only some rows), when each view encodes the catalog afresh.
    """
    aug, max_len = config.augment, model.config.sequence.max_len
    views = []
    for _ in range(2):
        vs = [augment(s[-max_len:], aug, model.mask_index, rng) for s in seqs]
        items = torch.from_numpy(pad_left(vs, model.pad_index, max_len)).to(config.device)
        full = table if table is not None else model.item_tower.all_items()
        views.append(model.states(items, torch.zeros_like(items), full)[:, -1])
    return info_nce(views[0], views[1], aug.temperature)


# A further term from a step's inputs (catalog indices), user states, item table and the
# table rows' catalog indices (None: the whole catalog) (continual.Distiller).
ExtraLoss = Callable[[StepInputs, torch.Tensor, torch.Tensor, torch.Tensor | None],
                     torch.Tensor]
# The item table of a full-table step from the model and the step's targets
# (lm_cache.CachedItemTable); None: every item encoded afresh.
TableFn = Callable[[ShelfModel, torch.Tensor], torch.Tensor]


def step_loss(config: TrainConfig, model: ShelfModel, loss_fn: torch.nn.Module,
              seqs: list[np.ndarray], evs: list[np.ndarray],
              rng: np.random.Generator, table_fn: TableFn | None = None,
              distill: ExtraLoss | None = None) -> torch.Tensor:
    """The loss of one batch of training sequences, every term the config enables
    (`distill`: the previous model's term of an update, continual.Distiller)."""
    batch = given = step_inputs(model, seqs, evs, config.device)
    sampled = isinstance(loss_fn, SampledSoftmaxLoss)
    rows = None
    if sampled:
        table, base, batch, rows = sampled_rows(model, loss_fn, batch, config.device)
    else:
        table = (table_fn(model, batch.targets) if table_fn is not None
                 else model.item_tower.all_items())

        def base(u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return loss_fn(u, batch.targets, t)

    user = model.states(batch.items, batch.events, table)[batch.where]
    loss = base(user, table)
    if config.text_only_weight > 0:
        if sampled:
            raise ValueError("TrainConfig.text_only_weight needs a full-table loss, not "
                             "sampled_softmax")
        loss = loss + config.text_only_weight * text_only_loss(model, batch, base)
    if distill is not None:
        loss = loss + distill(given, user, table, rows)
    if config.adversarial.enabled:
        loss = loss + perturbation_loss(config, model, batch, base, user, table)
    if config.augment.weight > 0 and len(seqs) > 1:
        full = None if sampled else table
        loss = loss + config.augment.weight * contrastive_loss(config, model, seqs, full, rng)
    return loss
