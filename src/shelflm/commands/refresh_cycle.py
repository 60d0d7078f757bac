"""One nearline refresh (`shelflm refresh`): the serving store's new events -> an update of
the live artifact -> the candidate judged against the live model on the freshest events,
which neither trained on. Imported by commands/refresh.py inside its functions (torch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog, Dataset, Interactions
from shelflm.data.splits import EvalCases, LeaveOneOutSplit
from shelflm.evaluation.protocol import RankingEvaluator
from shelflm.evaluation.served import ServedRecommender
from shelflm.models.artifact import read_artifact, save_artifact
from shelflm.serving.risk import Quarantine
from shelflm.serving.runtime import load_artifact
from shelflm.serving.store import EventStore
from shelflm.settings import artifact_record, load_shelf_config
from shelflm.training.continual import (
    dataset_exemplars,
    fit_update,
    grown_catalog,
    lineage_record,
)

log = logging.getLogger("shelflm.refresh")


@dataclass(frozen=True)
class RefreshPlan:
    """What one refresh reads and how it judges."""

    live: Path  # the artifact the servers serve now
    out: Path  # where the candidate goes
    mark: int  # the last store event an earlier refresh took
    min_events: int = 1000  # fewer new events: nothing to do yet
    max_events: int = 2_000_000  # read at most this many per refresh
    tolerance: float = 0.0  # the candidate may be this much below the live NDCG@10
    epochs: int | None = None
    lr: float | None = None  # the updates' learning rate (None: the live run's)


def window(store: EventStore, live_catalog: Catalog, plan: RefreshPlan,
           ) -> tuple[int, Dataset | None]:
    """(new mark, the new events over the live catalog grown by the items added while
    serving); None when there are fewer than plan.min_events."""
    mark, events = store.export_events(plan.mark, plan.max_events)
    if len(events) < plan.min_events:
        return plan.mark + len(events), None
    upserts = {}
    for change in store.item_changes_since(0):
        if change.deleted:
            upserts.pop(change.item_id, None)
        else:
            upserts[change.item_id] = change.row
    catalog = live_catalog
    if upserts:
        catalog = grown_catalog(live_catalog, Catalog.from_frame(
            pd.DataFrame(list(upserts.values())), "items added while serving"))
    quarantine = Quarantine()
    quarantine.follow(store)  # risk control: the quarantined users' events train nothing
    kept = [e for e in events if e.user_id not in quarantine.users]
    if len(kept) < len(events):
        log.warning("refresh: %d events of quarantined users left out", len(events) - len(kept))
    frame = pd.DataFrame([(e.user_id, e.item_id, e.event, e.timestamp, e.value)
                          for e in kept],
                         columns=["user_id", "item_id", "event", "timestamp", "value"])
    known = frame["item_id"].isin(catalog.ids)
    if not known.all():
        log.warning("refresh: %d events of items in no catalog dropped", int((~known).sum()))
    return mark, Dataset("refresh window", catalog, Interactions.from_frame(frame[known]))


def freshest(data: Dataset) -> tuple[EvalCases, pd.DataFrame]:
    """Each user's latest event in the window (users with 3 or more: leave-one-out's test
    cases) as the judging cases, and the window's other events to train on."""
    fresh = LeaveOneOutSplit().split(data).test
    events = data.interactions.events
    last = events.groupby("user_id", observed=True, sort=False).tail(1)
    judged = set(data.user_ids[np.asarray(fresh.users, dtype=np.int64)])
    return fresh, events.drop(index=last.index[last["user_id"].isin(judged)])


def refresh_once(store: EventStore, plan: RefreshPlan) -> dict:
    """Update the live artifact on the new events and judge the candidate; the decision
    record (the caller swaps it in when "accept" is true)."""
    live = read_artifact(plan.live)
    mark, data = window(store, live.catalog, plan)
    if data is None:
        return {"decision": "wait", "mark": plan.mark, "new_events": mark - plan.mark}
    if not len(data.interactions):
        raise ValueError(f"none of the {mark - plan.mark} new events is of an item in the "
                         "catalog or the item log")
    fresh, train = freshest(data)
    if not len(fresh.targets):
        raise ValueError(f"no user has 3 or more of the {len(data.interactions)} new events "
                         "to judge a candidate on: raise --min-events")
    cfg = load_shelf_config(plan.live)
    cfg = replace(cfg, training=replace(cfg.training, init_from=str(plan.live.resolve()),
                                        init_items=True, distill_weight=max(
                                            cfg.training.distill_weight, 1.0),
                                        epochs=plan.epochs or cfg.training.epochs,
                                        lr=plan.lr or cfg.training.lr,
                                        progress=False, log_path=None))
    rec, dataset, split, metrics = fit_update(plan.live, data.with_interactions(train), cfg)
    lineage = lineage_record(plan.live, live.version, live.config,
                             {"store_marks": [plan.mark, mark], "events": len(train),
                              "held_out_cases": len(fresh.targets)}, metrics)
    save_artifact(rec, plan.out, dataset.catalog, rec.text_settings,
                  {**artifact_record(cfg), "lineage": lineage},
                  exemplars=dataset_exemplars(dataset, cfg))
    candidate = load_artifact(plan.out)
    judged = {"live": _ndcg(load_artifact(plan.live), plan.live.name, dataset.catalog, fresh),
              "candidate": _ndcg(candidate, plan.out.name, dataset.catalog, fresh)}
    accept = judged["candidate"] >= judged["live"] - plan.tolerance
    if accept:  # its ONNX user tower, exported here into the servers' default cache, is
        candidate.use_user_tower("onnx")  # not exported during their swap
    return {"decision": "accept" if accept else "reject", "accept": accept, "mark": mark,
            "candidate": str(plan.out), "live": str(plan.live),
            "new_events": len(data.interactions), "held_out_cases": len(fresh.targets),
            "ndcg@10": judged}


def _ndcg(model: object, name: str, catalog: Catalog, cases: object) -> float:
    """NDCG@10 of a loaded artifact, served as it would be (on `catalog`), on `cases`."""
    served = ServedRecommender(model.on_catalog(catalog), name)
    return RankingEvaluator(cases, ks=(10,))(served)["ndcg@10"]
