"""Updates without forgetting: continue an artifact's training on new events.

Fine-tuning on new events alone forgets: the ID rows of items nobody bought this week get no
gradient but still move through the shared towers, and the user tower drifts to the new
window's habits. Two defences, both bounded in cost:
- replay: an exemplar set stored with the artifact (exemplars.parquet) is trained on again
  with the new events. It is chosen, not drawn: each user's recent window is a candidate,
  and users are picked greedily by how many items they cover that earlier picks did not,
  per event spent, so every item the model knew keeps a sequence that trains its ID row;
- distillation: the previous model's next-item distribution at every position is a second
  target (KL, `TrainConfig.distill_weight`), its item vectors taken over the new catalog
  (an item it never saw is scored from its text by its own text head).
An item or user the parent never saw needs nothing special: the catalog is the union of
both, new items start with a fresh ID row and their text part, and users are sequences.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from shelflm.data.schema import Catalog, Dataset, Interactions
from shelflm.models.artifact import EXEMPLARS, read_artifact
from shelflm.models.shelf_model import ShelfModel
from shelflm.training.step import StepInputs

if TYPE_CHECKING:
    from shelflm.data.splits import Split
    from shelflm.settings import ShelfConfig
    from shelflm.training.recommender import ShelfRecommender

_ID_ROWS = ("item_tower.id_embedding.weight", "item_tower.has_id")


def choose_exemplars(events: pd.DataFrame, budget: int, window: int) -> pd.DataFrame:
    """At most `budget` events: the last `window` events of users chosen greedily by items
    not yet covered per event (ties: the most recent user first), then by recency."""
    if budget <= 0 or events.empty:
        return events.iloc[:0]
    recent = events.sort_values(["user_id", "timestamp"], kind="stable").groupby(
        "user_id", sort=False, observed=True).tail(window)
    by_user = {u: g for u, g in recent.groupby("user_id", sort=False, observed=True)}
    last = {u: int(g["timestamp"].max()) for u, g in by_user.items()}
    heap = [(-g["item_id"].nunique() / len(g), -last[u], u) for u, g in by_user.items()]
    heapq.heapify(heap)
    covered: set[str] = set()
    chosen, spent = [], 0
    while heap:
        _, _, user = heapq.heappop(heap)
        rows = by_user[user]
        if spent + len(rows) > budget:
            continue
        gain = len(set(rows["item_id"]) - covered) / len(rows)
        if heap and gain < -heap[0][0]:  # stale: its gain fell since it was queued
            heapq.heappush(heap, (-gain, -last[user], user))
            continue
        chosen.append(rows)
        covered |= set(rows["item_id"])
        spent += len(rows)
    return pd.concat(chosen, ignore_index=True) if chosen else events.iloc[:0]


def dataset_exemplars(dataset: Dataset, config: ShelfConfig) -> pd.DataFrame:
    """The exemplars an artifact trained on `dataset` keeps ([training] replay_events events,
    windows of the user tower's max_len). Chosen from all its events, the held-out ones
    too: an update's split then holds out, for an exemplar user, the very events the
    parent never trained on, so its validation does not favour the parent."""
    return choose_exemplars(dataset.interactions.events, config.training.replay_events,
                            config.model.sequence.max_len)


def grown_catalog(old: Catalog, new: Catalog) -> Catalog:
    """The old catalog's rows in their order, each replaced by the new catalog's row of the
    same id, then the new catalog's other items."""
    new_rows = new.items.set_index("item_id", drop=False)
    kept = old.items.set_index("item_id", drop=False)
    kept.update(new_rows[new_rows.index.isin(kept.index)])
    added = new_rows[~new_rows.index.isin(kept.index)]
    return Catalog.from_frame(pd.concat([kept, added], ignore_index=True), "updated catalog")


def update_dataset(parent_dir: Path, new: Dataset, replay: bool = True) -> Dataset:
    """What an update trains on: the parent's catalog grown by `new`'s, and `new`'s events
    plus, with `replay`, the parent's exemplars (events of items no longer in any catalog
    dropped)."""
    parent = read_artifact(parent_dir)
    known = new.interactions.events["item_id"].isin(parent.catalog.ids)
    if len(known) and not known.any():
        raise ValueError(f"{new.name}: none of its {new.num_items} items is in the catalog of "
                         f"{parent_dir} ({len(parent.catalog)} items): another shop? Train "
                         "on it with --init-from instead of updating")
    catalog = grown_catalog(parent.catalog, new.catalog)
    events = [new.interactions.events]
    path = Path(parent_dir) / EXEMPLARS
    if replay and path.is_file():
        old = pd.read_parquet(path)
        events.insert(0, old[old["item_id"].isin(catalog.ids)])
    frame = pd.concat(events, ignore_index=True)
    frame["event"] = frame["event"].astype(str)
    return Dataset(f"{new.name} (update)", catalog,
                   Interactions.from_frame(frame, new.name), has_time=new.has_time)


def fit_update(parent_dir: Path, new: Dataset, config: ShelfConfig,
               replay: bool = True) -> tuple[ShelfRecommender, Dataset, Split, dict]:
    """Train from the artifact at `parent_dir` on `new` (plus its exemplars with `replay`):
    the fitted model, the dataset and split it trained on, and its test metrics. `config`
    is the parent's run (training.init_from / init_items / distill_weight set by the caller).
    """
    # The registry and the fit step import this module (their recommender carries ID rows).
    from shelflm.training.compare import fit_and_evaluate
    from shelflm.training.registry import build_model

    dataset = update_dataset(parent_dir, new, replay)
    split = config.data.splitter().split(dataset)
    rec = build_model("shelflm", dataset, config)
    return rec, dataset, split, fit_and_evaluate(rec, split)


def lineage_record(parent_dir: Path, parent_version: str, parent_config: dict,
                   data_window: dict, metrics: dict, **more: object) -> dict:
    """config.json's "lineage" of an updated artifact: its parent, the parent's ancestors
    and the parent, the data window it learned from, its test metrics and `more`."""
    parent = {"directory": str(Path(parent_dir).resolve()), "version": parent_version}
    return {"parent": parent,
            "ancestors": [*parent_config.get("lineage", {}).get("ancestors", []), parent],
            "data_window": data_window, **more,
            "metrics": {k: round(v, 4) for k, v in metrics.items()}}


def carry_item_rows(model: ShelfModel, parent_dir: Path, catalog: Catalog) -> int:
    """Copy the parent's ID rows (and ID weights) to the items of `catalog` with the same
    id; returns how many. Items the parent trained keep their ID part."""
    parent = read_artifact(parent_dir)
    own = model.state_dict()
    if not all(name in own for name in _ID_ROWS) or parent.model.config.items.use_id is False:
        return 0
    theirs = parent.model.state_dict()
    if own[_ID_ROWS[0]].shape[1:] != theirs[_ID_ROWS[0]].shape[1:]:
        return 0
    rows = catalog.ids.get_indexer(parent.catalog.ids)
    found = rows >= 0
    to, of = torch.from_numpy(rows[found]), torch.from_numpy(np.flatnonzero(found))
    with torch.no_grad():
        own[_ID_ROWS[0]][to] = theirs[_ID_ROWS[0]][of]
        # An item keeps the ID part the parent gave it, or the one its new events give it.
        own[_ID_ROWS[1]][to] = torch.maximum(own[_ID_ROWS[1]][to], theirs[_ID_ROWS[1]][of])
    return int(found.sum())


class Distiller:
    """The parent's next-item distribution as a target: KL(parent || model) at every
    position, over the catalog (full-table steps) or the rows a sampled step encoded, times
    `weight`."""

    def __init__(self, parent_dir: Path, catalog: Catalog, text_vectors: np.ndarray | None,
                 weight: float) -> None:
        parent = read_artifact(parent_dir)
        self.parent, self.weight = parent.model, weight
        rows = parent.catalog.ids.get_indexer(catalog.ids)
        table = torch.zeros(len(catalog), parent.dim)
        known = rows >= 0
        table[torch.from_numpy(known)] = torch.from_numpy(
            np.asarray(parent.item_vectors[rows[known]], np.float32))
        # Items the parent never saw: scored from their text by its text head, or, for an
        # ID-only parent, left out of both distributions (it knew nothing of them).
        self.known: torch.Tensor | None = None  # None: every item is in both distributions
        if (~known).any() and (text_vectors is None or parent.model.item_tower.text_dim == 0):
            self.known = torch.from_numpy(known)
        elif (~known).any():
            with torch.no_grad():
                table[torch.from_numpy(~known)] = parent.model.item_tower.encode_text_vectors(
                    torch.as_tensor(np.asarray(text_vectors)[~known], dtype=torch.float32))
        self.table = table

    def __call__(self, batch: StepInputs, user: torch.Tensor, table: torch.Tensor,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted KL for a step's inputs (catalog indices), user states and item table,
        over the table's rows (`rows`: their catalog indices, a sampled step's; None: the
        whole catalog)."""
        if rows is None and table.shape[0] != self.table.shape[0]:
            raise ValueError(f"distill: the step's table has {table.shape[0]} rows, the "
                             f"catalog {self.table.shape[0]}: pass the rows it holds")
        own, theirs = table, (self.table if rows is None else self.table[rows])
        if self.known is not None:  # only when the parent misses items: no copy otherwise
            keep = self.known if rows is None else self.known[rows]
            own, theirs = own[keep], theirs[keep]
        with torch.no_grad():
            teacher = self.parent.states(batch.items, batch.events, self.table)[batch.where]
            target = F.log_softmax(teacher @ theirs.T, dim=-1)
        student = F.log_softmax(user @ own.T, dim=-1)
        return self.weight * F.kl_div(student, target, log_target=True, reduction="batchmean")
