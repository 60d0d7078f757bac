"""The serving engine: recommendations, similar items and search from a trained artifact,
reacting to every event and catalog change at once. Knows nothing about HTTP."""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.schema import EVENT_TYPES, Catalog
from shelflm.models.serving_model import ServingModel
from shelflm.serving.config import ServingConfig
from shelflm.serving.index import VectorIndex, make_index
from shelflm.serving.item_log import apply_item_changes
from shelflm.serving.items import ItemTable
from shelflm.serving.store import Event, EventStore, ItemChange, make_store
from shelflm.serving.user_cache import UserCache, UserState

_EVENT_INDEX = {e: i for i, e in enumerate(EVENT_TYPES)}
_VERBS = {"view": "viewed", "click": "clicked", "add_to_cart": "added to your cart",
          "purchase": "bought", "rating": "rated"}


class UnknownIdError(ValueError):
    """A request names an item id the catalog does not hold; `field` says where."""

    def __init__(self, field_name: str, item_id: str) -> None:
        self.field, self.item_id = field_name, item_id
        super().__init__(f"{field_name}: unknown item id {item_id!r}")


@dataclass(frozen=True)
class Filters:
    """Per-request business rules on top of the configured ones."""

    category: str | None = None  # category path prefix, e.g. "Beauty > Makeup"
    min_price: float | None = None
    max_price: float | None = None
    exclude: tuple[str, ...] = ()
    in_stock_only: bool = True


@dataclass
class Recommendation:
    """One answered item; `because` explains it from the user's recent events."""

    item_id: str
    score: float
    title: str
    category: str
    because: dict | None = None


@dataclass
class Answer:
    """A ranked list and which source produced it."""

    source: str  # personal | session | popular | similar | search | search+user
    items: list[Recommendation] = field(default_factory=list)
    model_version: str = ""


@dataclass
class _State:
    """Everything a request reads; a reload swaps one _State for another in one assignment."""

    model: ServingModel
    items: ItemTable
    index: VectorIndex
    artifact_dir: Path | None
    event_mark: int = 0  # last store event applied (popularity, user-cache invalidation)
    item_mark: int = 0  # last catalog change applied from the store's item log
    _base: np.ndarray | None = None  # alive & in stock, rebuilt after a catalog change

    def base_mask(self) -> np.ndarray:
        """Live, in-stock slots (shared: copy before changing it)."""
        if self._base is None:
            self._base = self.items.alive & self.items.in_stock
        return self._base


def load_model(spec: str, directory: Path) -> ServingModel:
    """Import 'module:function' and call it on the artifact directory."""
    module, _, name = spec.partition(":")
    loader: Callable[[Path], ServingModel] = getattr(importlib.import_module(module), name)
    return loader(directory)


class Engine:
    """Thread-safe: every request holds one lock (the GIL serialises the work anyway).

    The store is the source of truth shared by every worker process: before answering,
    a request applies what was written since it last looked (one PRAGMA when nothing was),
    so events and catalog changes made through any worker count at once.
    """

    def __init__(self, model: ServingModel, store: EventStore, config: ServingConfig | None = None,
                 artifact_dir: Path | None = None) -> None:
        self.config = config or ServingConfig()
        self.store = store
        self._lock = threading.RLock()
        self._users = UserCache(self.config.user_cache_size)
        # Bumped when an existing item changes or goes (users' cached vectors go stale) and
        # on every catalog change (cached answers go stale); a new item leaves vectors valid.
        self._generation = self._catalog_generation = 0
        self._state = self._build(model, artifact_dir)

    @classmethod
    def from_artifact(cls, directory: str | Path, config: ServingConfig | None = None) -> Engine:
        """Load the artifact with the configured loader and open the configured store."""
        config = config or ServingConfig()
        model = load_model(config.model_loader, Path(directory))
        return cls(model, make_store(config.store), config, Path(directory))

    def _build(self, model: ServingModel, artifact_dir: Path | None) -> _State:
        cfg = self.config
        # Optional runtime switches of a ServingModel (load_artifact's has both).
        if hasattr(model, "use_text_encoder"):
            model.use_text_encoder(cfg.text_encoder, cfg.onnx_cache_dir, cfg.encoder_threads)
        if hasattr(model, "use_user_tower"):
            model.use_user_tower(cfg.user_tower, cfg.onnx_cache_dir, cfg.encoder_threads)
        text = model.text_vectors
        items = ItemTable(model.dim, model.history_vectors.shape[1], text.shape[1])
        slots = items.upsert(model.catalog.items, model.item_vectors, model.history_vectors, text)
        index = make_index(self.config.index, model.dim, len(slots))
        index.upsert(slots, items.vectors[slots])
        mark, counts = self.store.popularity_snapshot()
        for item, n in counts.items():
            if item in items.slot_of:
                items.popularity[items.slot_of[item]] = n
        state = _State(model, items, index, artifact_dir, event_mark=mark)
        self._apply_items(state, self.store.item_changes_since(0))  # items added while serving
        return state

    # -- keeping up with the store -----------------------------------------------------
    def _sync(self) -> _State:
        """Under the lock: the current state, with whatever was stored since last time."""
        st = self._state
        if self.store.changed():
            self._catch_up(st)
        return st

    def _catch_up(self, st: _State) -> None:
        st.event_mark, pairs = self.store.events_since(st.event_mark)
        if pairs:
            self._users.invalidate({user for user, _ in pairs})
            slot_of, popularity = st.items.slot_of, st.items.popularity
            for _, item in pairs:
                s = slot_of.get(item)
                if s is not None:
                    popularity[s] += 1
        changes = self.store.item_changes_since(st.item_mark)
        if changes:
            self._apply_items(st, changes)

    def _apply_items(self, st: _State, changes: list[ItemChange]) -> None:
        if not changes:
            return
        if apply_item_changes(st.model, st.items, st.index, changes):
            self._generation += 1  # an existing item changed or went: user vectors are stale
        st.item_mark = changes[-1].version
        st._base = None
        self._catalog_generation += 1  # every cached answer is stale

    # -- reading ----------------------------------------------------------------------
    @property
    def model_version(self) -> str:
        return self._state.model.version

    @property
    def index_size(self) -> int:
        return len(self._state.index)

    def info(self) -> dict:
        """Model version, artifact directory, index kind and sizes, user-cache counters."""
        with self._lock:
            st = self._sync()
            return {"version": st.model.version, "artifact_dir": str(st.artifact_dir or ""),
                    "dim": st.model.dim, "items": len(st.items),
                    "index": type(st.index).__name__, "index_size": len(st.index),
                    "text_encoder": getattr(st.model, "text_encoder", "n/a"),
                    "user_tower": getattr(st.model, "user_tower", "n/a"),
                    "user_cache": self._users.stats(), "worker_pid": os.getpid()}

    def recommend(self, user_id: str, k: int = 10, filters: Filters | None = None) -> Answer:
        """Top-k for a user from their events as stored right now; popular items otherwise."""
        filters = filters or Filters()
        with self._lock:
            st = self._sync()
            return self._personal(st, self._user(st, user_id), k, filters, "personal")

    def recommend_encoded(self, user_id: str, k: int, filters: Filters,
                          encode: Callable[[Answer], bytes]) -> bytes:
        """recommend() rendered by `encode` (the API's JSON). A personal answer's bytes are
        kept with the user's cached state until their history or the catalog changes: bytes,
        not objects, so tens of thousands of cached answers give the garbage collector
        nothing to walk."""
        with self._lock:
            st = self._sync()
            user = self._user(st, user_id)
            key = (self._catalog_generation, k, filters)
            data = user.answers.get(key)
            if data is None:
                answer = self._personal(st, user, k, filters, "personal")
                data = encode(answer)
                if answer.source == "personal":  # popular ones change with any event
                    user.remember(key, data)
            return data

    def _user(self, st: _State, user_id: str) -> UserState:
        """The user's inputs and vector: cached, or read from the store and computed once."""
        cached = self._users.get(user_id, self._generation)
        if cached is not None:
            return cached
        history = self.store.recent(user_id)
        bought = self.store.items_with_events(user_id, self.config.rules.exclude_event_types) \
            if history else set()
        state = self._user_state(st, history, bought)
        self._users.put(user_id, state)
        return state

    def _user_state(self, st: _State, history: list[Event], bought: set[str]) -> UserState:
        slots = np.array([st.items.slot(e.item_id) for e in history], np.int64)
        known = slots >= 0
        events = np.array([_EVENT_INDEX[e.event] for e in history], np.int64)[known]
        slots = slots[known]
        vector = st.model.user_vector(st.items.history[slots], events) if len(slots) else None
        return UserState(slots, events, bought, vector, self._generation)

    def recommend_session(self, events: Sequence[tuple[str, str]], k: int = 10,
                          filters: Filters | None = None) -> Answer:
        """Top-k for an anonymous session given as (item_id, event) pairs, oldest first."""
        with self._lock:
            for i, (item, _) in enumerate(events):
                if self._state.items.slot(item) < 0:
                    raise UnknownIdError(f"events[{i}].item_id", item)
        history = [Event("", item, ev, i) for i, (item, ev) in enumerate(events)]
        excluded = set(self.config.rules.exclude_event_types)
        bought = {e.item_id for e in history if e.event in excluded}
        with self._lock:  # anonymous: nothing to cache under
            st = self._sync()
            user = self._user_state(st, history, bought)
            return self._personal(st, user, k, filters or Filters(), "session")

    def _personal(self, st: _State, user: UserState, k: int, filters: Filters,
                  source: str) -> Answer:
        if user.vector is None:
            return self._popular(st, k, filters)
        mask = self._mask(st, filters, user.bought)
        answer = self._retrieve(st, user.vector, k, mask, source)
        self._explain(st, answer, user.slots, user.events)
        return answer

    def similar(self, item_id: str, k: int = 10, filters: Filters | None = None) -> Answer:
        """Items nearest to `item_id` (the item itself left out)."""
        filters = filters or Filters()
        with self._lock:
            st = self._sync()
            slot = st.items.slot(item_id)
            if slot < 0:
                raise UnknownIdError("item_id", item_id)
            mask = self._mask(st, filters, set())
            mask[slot] = False
            return self._retrieve(st, st.items.vectors[slot], k, mask, "similar")

    def search(self, query: str, k: int = 10, user_id: str | None = None,
               filters: Filters | None = None) -> Answer:
        """Items whose text matches a free-text question (text-space cosine); with a known
        user, the oversampled text candidates are re-ranked by
        w * cosine + (1 - w) * the user's cosine retrieval score, w = rules.query_weight."""
        filters = filters or Filters()
        model = self._state.model
        q = np.asarray(model.encode_query(query), np.float32)  # encoding is slow: no lock
        with self._lock:
            st = self._sync()
            if st.model is not model:  # a reload landed meanwhile: encode with the new model
                q = np.asarray(st.model.encode_query(query), np.float32)
            mask = self._mask(st, filters, set())
            user = self._user(st, user_id) if user_id else None
            personal = user is not None and user.vector is not None
            rules = self.config.rules
            wanted = k * rules.oversample if (rules.diversity_cap or personal) else k
            # Exact scan: one (n, d_text) product is cheap next to encoding the query.
            keys, scores = _top(st.items.text @ _unit(q), mask, wanted)
            if not personal:
                return self._rank(st, keys, scores, k, "search")
            # Cosine, so the user's score sits on the query's scale whatever the vector norms.
            taste = st.items.vectors[keys] @ _unit(user.vector) / st.items.norms[keys]
            w = rules.query_weight
            blended = w * scores + (1 - w) * taste
            order = np.argsort(-blended, kind="stable")
            return self._rank(st, keys[order], blended[order], k, "search+user")

    def _mask(self, st: _State, filters: Filters, bought: set[str]) -> np.ndarray:
        items = st.items
        mask = st.base_mask().copy() if filters.in_stock_only else items.alive.copy()
        if filters.category:
            mask &= items.category_mask(filters.category)
        if filters.min_price is not None:
            mask &= items.price >= filters.min_price  # unknown (NaN) prices fail both tests
        if filters.max_price is not None:
            mask &= items.price <= filters.max_price
        for item in (*filters.exclude, *bought):
            s = items.slot_of.get(item)
            if s is not None:
                mask[s] = False
        return mask

    def _retrieve(self, st: _State, vector: np.ndarray, k: int, mask: np.ndarray,
                  source: str) -> Answer:
        wanted = k * self.config.rules.oversample if self.config.rules.diversity_cap else k
        keys, scores = st.index.search(vector, wanted, mask)
        return self._rank(st, keys, scores, k, source)

    def _rank(self, st: _State, keys: np.ndarray, scores: np.ndarray, k: int,
              source: str) -> Answer:
        """The first k of ranked candidates, at most `diversity_cap` per leaf category."""
        cap = self.config.rules.diversity_cap
        out, per_leaf = [], {}
        for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
            leaf = st.items.leaf[key]
            if cap and leaf:
                if per_leaf.get(leaf, 0) >= cap:
                    continue
                per_leaf[leaf] = per_leaf.get(leaf, 0) + 1
            out.append(Recommendation(st.items.ids[key], score, st.items.titles[key],
                                      st.items.categories[key]))
            if len(out) == k:
                break
        return Answer(source, out, st.model.version)

    def _popular(self, st: _State, k: int, filters: Filters) -> Answer:
        mask = self._mask(st, filters, set())
        allowed = np.flatnonzero(mask)
        pop = st.items.popularity[allowed]
        top = allowed[np.lexsort((allowed, -pop))[:k]]  # most events first, stable ties
        items = [Recommendation(st.items.ids[s], float(st.items.popularity[s]),
                                st.items.titles[s], st.items.categories[s]) for s in top]
        return Answer("popular", items, st.model.version)

    def _explain(self, st: _State, answer: Answer, slots: np.ndarray,
                 events: np.ndarray) -> None:
        """Attach to each item the recent event whose item is most similar to it."""
        if not answer.items:
            return
        recs = [st.items.slot_of[r.item_id] for r in answer.items]
        # Cosine, not inner product: a long history vector must not win every explanation.
        sims = st.items.vectors[recs] @ st.items.vectors[slots].T
        norms = st.items.norms
        best = (sims / norms[slots][None, :]).argmax(axis=1)
        for rec, j in zip(answer.items, best.tolist(), strict=True):
            slot, event = int(slots[j]), EVENT_TYPES[events[j]]
            item, title = st.items.ids[slot], st.items.titles[slot]
            rec.because = {"item_id": item, "event": event, "title": title,
                           "text": f"because you {_VERBS[event]} {title or item}"}

    # -- writing ----------------------------------------------------------------------
    def ingest(self, events: Sequence[Event]) -> int:
        """Validate and durably store a batch (all or nothing); returns how many were stored."""
        with self._lock:
            items = self._sync().items  # an item another worker just added is known here
            for i, ev in enumerate(events):
                if items.slot(ev.item_id) < 0:
                    raise UnknownIdError(f"events[{i}].item_id", ev.item_id)
        self.store.append(events)
        with self._lock:  # the users' cached vectors go now: the next request sees the events
            self._catch_up(self._state)
        return len(events)

    def upsert_items(self, frame: pd.DataFrame) -> list[str]:
        """Encode new or changed items from their text and index them before returning; the
        change is logged in the store, so every worker (and a restart) serves it too."""
        rows = Catalog.from_frame(frame, "items").items
        model = self._state.model
        # The slow part, outside the lock.
        vectors, history = model.encode_items(rows)
        text = model.encode_item_texts(rows)
        # object + None: NaN prices and missing strings survive the JSON round trip as nulls.
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        self.store.log_items([
            ItemChange(str(r["item_id"]), False, r, model.version, vectors[i], history[i],
                       text[i]) for i, r in enumerate(records)])
        with self._lock:  # a reload meanwhile? _apply_items re-encodes with the new model
            self._catch_up(self._state)
        return rows["item_id"].astype(str).tolist()

    def delete_items(self, ids: Sequence[str]) -> int:
        """Remove items from answers at once (in every worker); returns how many existed."""
        with self._lock:
            items = self._sync().items
            live = list(dict.fromkeys(i for i in ids if items.slot(i) >= 0))
        if live:
            self.store.log_items([ItemChange(i, deleted=True) for i in live])
            with self._lock:
                self._catch_up(self._state)
        return len(live)

    def reload(self, directory: str | Path) -> str:
        """Load another artifact and swap it in atomically; requests never see half of it."""
        directory = Path(directory)
        started = time.perf_counter()
        state = self._build(load_model(self.config.model_loader, directory), directory)
        with self._lock:
            self._state = state
            self._catch_up(state)  # what was stored while it loaded
            self._generation += 1
            self._catalog_generation += 1
            self._users.clear()
        self.last_reload_seconds = time.perf_counter() - started
        return state.model.version

    def warm_up(self) -> int:
        """Load the text encoder now (ONNX export or session) so no shopper waits for it, and
        fill the user cache with the `warm_users` most recently active users; returns how
        many users were cached."""
        self._state.model.encode_query("warm up")
        limit = min(self.config.warm_users, self.config.user_cache_size)
        users = self.store.recent_users(limit) if limit else []
        for user in reversed(users):  # the most recent end up last used in the LRU
            with self._lock:  # one user at a time: requests may interleave
                self._user(self._sync(), user)
        return len(users)

    def close(self) -> None:
        """Close the event store."""
        self.store.close()


def _top(scores: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and scores of the k best allowed entries, best first (ties by key)."""
    allowed = np.flatnonzero(mask)
    if len(allowed) > k:
        allowed = allowed[np.argpartition(-scores[allowed], k - 1)[:k]]
    order = np.lexsort((allowed, -scores[allowed]))
    return allowed[order], scores[allowed[order]].astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n if n > 0 else v).astype(np.float32)
