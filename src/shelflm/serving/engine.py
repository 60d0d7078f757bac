"""The serving engine: recommendations, similar items and search from a trained artifact,
reacting to every event and catalog change at once. Knows nothing about HTTP."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

import pandas as pd

from shelflm.models.serving_model import ServingModel
from shelflm.serving import rerank, retrieval
from shelflm.serving.assist_desk import AssistDesk
from shelflm.serving.catalog_updates import encode_items
from shelflm.serving.config import ServingConfig
from shelflm.serving.errors import RequestError, require_text
from shelflm.serving.insight import InsightDesk
from shelflm.serving.item_log import apply_item_changes
from shelflm.serving.ranking import Answer, Filters
from shelflm.serving.reloads import Prepared, ReloadFollower, models_root
from shelflm.serving.risk_desk import RiskDesk
from shelflm.serving.state import ServingState, build_state, load_model
from shelflm.serving.store import Event, EventStore, ItemChange, make_store
from shelflm.serving.user_cache import UserCache, UserState

__all__ = ["Answer", "Engine", "Filters", "RequestError", "load_model"]


class Engine:
    """Thread-safe: every request holds one lock (the GIL serialises the work anyway), but
    for the slow parts (encoding a query, the second stage) that run outside it.

    The store is the source of truth shared by every worker process: before answering,
    a request applies what was written since it last looked (one PRAGMA when nothing was),
    so events, catalog changes and reloads made through any worker count at once."""

    def __init__(self, model: ServingModel, store: EventStore, config: ServingConfig | None = None,
                 artifact_dir: Path | None = None, reload_start: int | None = None) -> None:
        self.config = config or ServingConfig()
        self.store = store
        self._lock = threading.RLock()
        self._users = UserCache(self.config.user_cache_size)
        # Bumped on a model swap (every user's state is stale; ItemTable.stale tells which
        # ones an item change touches) and on every catalog change (cached answers go).
        self._generation = self._catalog_generation = 0
        self._reloads = ReloadFollower(store, self._lock, self._prepare, self._swap,
                                      reload_start)
        self._state = build_state(model, store, self.config, artifact_dir)
        self._start_dir = artifact_dir  # its folder is the default models directory
        self.reranker = rerank.make_reranker(self.config.rerank)  # None: no second stage
        self.risk = RiskDesk(store, self._lock, self._sync, self._locked_catch_up)
        self.assistant = AssistDesk(self.config, self._lock, self._sync, self._user,
                                    lambda: self._state)
        self.insight = InsightDesk(store, self._lock, self._sync)  # the dashboard's reads
        self.previous_dir: Path | None = None  # served before the last reload (rollback)

    @classmethod
    def from_artifact(cls, directory: str | Path, config: ServingConfig | None = None,
                      reload_start: int | None = None) -> Engine:
        """Load the artifact with the configured loader and open the configured store;
        `reload_start`: the store's reload generation when the server was launched."""
        config = config or ServingConfig()
        model = load_model(config.model_loader, Path(directory))
        return cls(model, make_store(config.store), config, Path(directory), reload_start)

    # -- keeping up with the store -----------------------------------------------------
    def _sync(self) -> ServingState:
        """Under the lock: the current state, with whatever was stored since last time."""
        st = self._state
        if self.store.changed():
            self._catch_up(st)
        return st

    def _catch_up(self, st: ServingState) -> None:
        st.event_mark, pairs = self.store.events_since(st.event_mark)
        if pairs:
            self._users.invalidate({user for user, _ in pairs})
            st.count(pairs)
        st.quarantine.follow(self.store, st.items, st.event_mark)
        changes = self.store.item_changes_since(st.item_mark)
        if changes:
            apply_item_changes(st.model, st.items, st.index, changes)
            self._applied(st, changes[-1].version)
        self._reloads.check()  # another worker reloaded? load it aside

    def _locked_catch_up(self) -> None:
        with self._lock:
            self._catch_up(self._state)

    def _applied(self, st: ServingState, version: int) -> None:
        """Bookkeeping after catalog changes up to log `version` were applied to `st`."""
        st.item_mark = version
        st._base = None
        self._catalog_generation += 1  # every cached answer is stale

    # -- reading ----------------------------------------------------------------------
    model_version = property(lambda self: self._state.model.version)
    index_size = property(lambda self: len(self._state.index))
    # Reloads load from here: models_dir, else the start artifact's folder (None: off).
    models_root = property(lambda self: models_root(self.config.models_dir, self._start_dir))

    def info(self) -> dict:
        """Model version, artifact directory, index kind and sizes, user-cache counters."""
        with self._lock:
            st = self._sync()
            return {"version": st.model.version, "artifact_dir": str(st.artifact_dir or ""),
                    "dim": st.model.dim, "items": len(st.items),
                    "index": type(st.index).__name__, "index_size": len(st.index),
                    "text_encoder": getattr(st.model, "text_encoder", "n/a"),
                    "user_tower": getattr(st.model, "user_tower", "n/a"),
                    "user_cache": self._users.stats(), "worker_pid": os.getpid(),
                    "reload_generation": self._reloads.mark,
                    "lineage": (getattr(st.model, "config", None) or {}).get("lineage"),
                    "rerank": self.reranker and self.reranker.stats(),
                    "risk": self.risk.stats(), "assist": self.assistant.stats()}

    def check_ready(self) -> None:
        """Raise whatever the event store raises when it does not answer."""
        self.store.recent("")

    def recommend(self, user_id: str, k: int = 10, filters: Filters | None = None) -> Answer:
        """Top-k for a user from their events as stored right now; popular items otherwise."""
        return cast(Answer, self._recommend(user_id, k, filters or Filters(), None))

    def recommend_if_changed(self, user_id: str, k: int, filters: Filters,
                             revision: tuple[int, int] | None) -> Answer | None:
        """recommend(), or None while `revision` (an earlier personal answer's) is current (the
        same history and catalog: the same answer), for a caller that keeps what it made."""
        return self._recommend(user_id, k, filters, revision)

    def _recommend(self, user_id: str, k: int, filters: Filters,
                   known: tuple[int, int] | None) -> Answer | None:
        with self._lock:
            st = self._sync()
            user = self._user(st, user_id)
            # Popular answers (no user vector) change with any event: never reusable.
            revision = None if user.vector is None else (self._catalog_generation, user.serial)
            if revision is not None and revision == known:
                return None
            answer = retrieval.personal(st, self.config.rules, user,
                                        rerank.wanted(self.reranker, k), filters, "personal")
            answer.revision = revision
            finish = rerank.stage(self.reranker, st.items, user.slots, answer, k)
        return finish()  # the second stage (if any) runs outside the lock

    def _user(self, st: ServingState, user_id: str) -> UserState:
        """The user's inputs and vector: cached, or read from the store and computed once."""
        cached = self._users.get(user_id, self._generation, st.items.stale)
        if cached is None:
            cached = self._read_user(st, user_id, self._generation)
            self._users.put(user_id, cached)
        return cached

    def _read_user(self, st: ServingState, user_id: str, generation: int) -> UserState:
        """The user's state for `st`'s model, from their history as stored now."""
        history = self.store.recent(user_id)
        bought = self.store.items_with_events(user_id, self.config.rules.exclude_event_types) \
            if history else set()
        return retrieval.user_state(st, history, bought, generation)

    def recommend_session(self, events: Sequence[tuple[str, str]], k: int = 10,
                          filters: Filters | None = None) -> Answer:
        """Top-k for an anonymous session given as (item_id, event) pairs, oldest first."""
        with self._lock:  # anonymous: nothing to cache under
            st, rules = self._sync(), self.config.rules
            user = retrieval.session_state(st, events, rules.exclude_event_types)
            answer = retrieval.personal(st, rules, user, rerank.wanted(self.reranker, k),
                                        filters or Filters(), "session")
            finish = rerank.stage(self.reranker, st.items, user.slots, answer, k)
        return finish()

    def similar(self, item_id: str, k: int = 10, filters: Filters | None = None) -> Answer:
        """Items nearest to `item_id` (the item itself left out)."""
        with self._lock:
            st = self._sync()
            slot = st.items.slot(item_id)
            if slot < 0:
                raise RequestError.unknown_id("item_id", item_id, "not_found")
            return retrieval.similar(st, self.config.rules, slot, k, filters or Filters())

    def search(self, query: str, k: int = 10, user_id: str | None = None,
               filters: Filters | None = None) -> Answer:
        """Items whose text matches a free-text question (text-space cosine); with a known
        user, re-ranked by w * cosine + (1 - w) * the user's cosine, w = query_weight."""
        require_text("query", query)  # a blank query has no vector (RequestError, a 422)
        # Encoding is slow: no lock. Through the shop's tuned query tower when it has one.
        q = self.assistant.vector(self._state, query)
        with self._lock:
            st = self._sync()
            q = self.assistant.vector(st, query)  # cached, unless a reload landed meanwhile
            user = self._user(st, user_id) if user_id else None
            return retrieval.text_search(st, self.config.rules, q, k, filters or Filters(), user)

    # -- writing ----------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> int:
        """Validate and durably store a batch (all or nothing); returns how many were stored."""
        with self._lock:
            items = self._sync().items  # an item another worker just added is known here
            for i, ev in enumerate(events):
                if items.slot(ev.item_id) < 0:
                    raise RequestError.unknown_id(f"events[{i}].item_id", ev.item_id)
        self.store.append(events)
        self._locked_catch_up()  # the users' cached vectors go now: the next request sees them
        users = Counter(e.user_id for e in events)
        self.risk.check(users)  # quarantined before the users' answers are refreshed
        self._refresh_users(list(users))
        return len(events)

    def _refresh_users(self, users: Sequence[str]) -> None:
        """Compute the new state of the first `refresh_on_ingest` users just changed."""
        if self.config.user_cache_size > 0:
            self._cache_users(list(users)[: self.config.refresh_on_ingest])

    def _cache_users(self, users: Iterable[str]) -> None:
        """Compute and cache each user's state, one user per lock hold (requests interleave)."""
        for user in users:
            with self._lock:
                self._user(self._sync(), user)

    def upsert_items(self, frame: pd.DataFrame) -> list[str]:
        """Encode new or changed items from their text and index them before returning; the
        change is logged in the store, so every worker (and a restart) serves it too."""
        model = self._state.model
        new = encode_items(model, frame)  # the slow part, outside the lock
        rows, changes = new.rows, new.changes
        last = self.store.log_items(changes)  # durable (fsynced) before anything answers
        with self._lock:
            st = self._state
            if st.model is model and st.item_mark == last - len(changes):
                # Nothing else was logged in between: index the rows in hand instead of
                # reading them back and rebuilding a frame from JSON (a third of the call).
                slots = st.items.upsert(rows, new.vectors, new.text)
                st.index.upsert(slots, st.items.scored[slots])
                self._applied(st, last)
            self._catch_up(st)  # otherwise (or a reload meanwhile) replay the log in order
        return rows["item_id"].astype(str).tolist()

    def delete_items(self, ids: Sequence[str]) -> int:
        """Remove items from answers at once (in every worker); returns how many existed."""
        with self._lock:
            items = self._sync().items
            live = list(dict.fromkeys(i for i in ids if items.slot(i) >= 0))
        if live:
            self.store.log_items([ItemChange(i, deleted=True) for i in live])
            self._locked_catch_up()
        return len(live)

    def reload(self, directory: str | Path) -> str:
        """Load an artifact folder inside the models directory (relative: inside it) and its
        warm users aside, swap them in atomically, record it for the other workers and return
        its version; RequestError if it is outside or does not load (the old one serves on)."""
        return self._reloads.reload(directory, self.models_root).state.model.version

    def _prepare(self, directory: Path) -> Prepared:
        """Off the lock but for a moment: the artifact's state and its warm users' states."""
        state = build_state(load_model(self.config.model_loader, directory), self.store,
                            self.config, directory)
        state.model.encode_query("warm up")  # the ONNX session loads now, not in a request
        with self._lock:  # what is stored so far invalidates first: nothing stale is carried
            self._catch_up(self._state)
            cached = self._users.valid(self._generation)
            carry = retrieval.carrier(self._state, state)
        users = {u: carry(cached.get(u)) or self._read_user(state, u, 0) for u in self._warm_list()}
        return Prepared(state, users)

    def _swap(self, new: Prepared, generation: int) -> None:
        """Under the lock: serve `new`, its users the whole user cache; cached answers go."""
        self._reloads.served(generation)
        self.previous_dir = self._state.artifact_dir
        self._generation += 1
        self._catalog_generation += 1
        self._users.replace(new.users, self._generation)
        self._state = new.state
        self._catch_up(new.state)  # what was stored while it loaded invalidates as usual

    @property
    def reload_generation(self) -> int:
        """The store's number of the last reload this worker serves (0: its start artifact)."""
        return self._reloads.mark

    def warm_up(self) -> int:
        """Load the text encoder now (no shopper waits for it) and cache the `warm_users` most
        recently active users; returns how many were cached."""
        self._state.model.encode_query("warm up")
        self._cache_users(users := self._warm_list())
        return len(users)

    def _warm_list(self) -> list[str]:
        """The `warm_users` (capped by the cache) most recently active users, the latest last."""
        limit = min(self.config.warm_users, self.config.user_cache_size)
        return self.store.recent_users(limit)[::-1] if limit else []

    def close(self) -> None:
        """Close the event store."""
        self.store.close()

