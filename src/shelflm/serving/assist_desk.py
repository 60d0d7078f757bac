"""The shopping assistant's desk in the engine (`Engine.assistant`): takes a turn, keeps the
conversation, and holds what turns share: the query vectors of recent wishes, the shop's
tuned query tower (`ARTIFACT/query/`, models/query_tower.py) and the catalog's BM25 index.

The slow parts (the language model on a new wish, loading the tower, rebuilding BM25 after a
catalog change) run outside the engine lock; the turn itself runs inside it."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from shelflm.serving import ranking
from shelflm.serving.assist import (
    AssistAnswer,
    AssistItem,
    AssistQuery,
    CatalogText,
    allowed,
    catalog_text,
    context_of,
    reasons,
    scores,
    understood,
)
from shelflm.serving.assist_scoring import Turn
from shelflm.serving.config import ServingConfig
from shelflm.serving.conversations import make_conversations
from shelflm.serving.errors import RequestError, require_text
from shelflm.serving.state import ServingState
from shelflm.text.query_parse import parse_message

log = logging.getLogger(__name__)
_VECTORS_KEPT = 4096


class AssistDesk:
    """POST /assist and `shelflm assist chat` both come here."""

    def __init__(self, config: ServingConfig, lock: threading.RLock,
                 sync: Callable[[], ServingState], user_of: Callable,
                 current: Callable[[], ServingState]) -> None:
        self.config, self.rules = config.assist, config.rules
        self.conversations = make_conversations(config.store, config.assist)
        self._lock, self._sync, self._user_of, self._current = lock, sync, user_of, current
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._towers: dict[str, object] = {}  # model version -> QueryTower or None
        self._text: tuple[tuple[int, int, int], CatalogText] | None = None
        self._cache_lock = threading.Lock()

    def turn(self, query: AssistQuery) -> AssistAnswer:
        """Answer one turn and remember it in its conversation."""
        self._check(query)
        prior = self._prior(query.conversation_id)
        parsed = parse_message(query.message)
        last = prior[-1] if prior else None
        # Every turn keeps the wishes so far: refinements past max_turns do not lose them.
        wishes = [*(last or {}).get("wishes", []), *[parsed.wish] * bool(parsed.wish)]
        wishes = wishes[-self.config.max_turns:]
        st = self._current()
        vectors = [self.vector(st, w) for w in wishes]  # the language model: not locked
        self._catalog_text(st)  # BM25 (re)built outside the lock too
        with self._lock:
            st = self._sync()
            text = self._catalog_text(st)  # cached, unless the catalog changed just now
            vectors = [self.vector(st, w) for w in wishes]  # cached, unless a reload landed
            answer, record = self._answer(st, query, parsed, last, wishes, vectors, text)
        answer.turn = self.conversations.append(answer.conversation_id, record)
        return answer

    def _check(self, query: AssistQuery) -> None:
        require_text("message", query.message)
        if len(query.message) > self.config.max_message_chars:
            raise RequestError("message", f"{len(query.message):,} characters, over the "
                               f"limit of {self.config.max_message_chars:,}", "too_large")
        if query.k < 1:
            raise RequestError("k", f"must be >= 1, got {query.k}")

    def _prior(self, conversation_id: str | None) -> list[dict]:
        if conversation_id is None:
            return []
        turns = self.conversations.turns(conversation_id)
        if turns is None:
            raise RequestError("conversation_id", f"unknown or expired conversation "
                               f"{conversation_id!r} (kept {self.config.ttl_s:g} s after its "
                               "last turn); send the message without it to start anew",
                               "not_found")
        return turns

    def _answer(self, st: ServingState, query: AssistQuery, parsed, last: dict | None,
                wishes: list[str], vectors: list[np.ndarray],
                text: CatalogText) -> tuple[AssistAnswer, dict]:
        """Under the lock: the turn's answer and the record the conversation keeps."""
        c, notes = understood(parsed, query, last, text)
        anchor = self._anchor(st, c, query, notes)
        if parsed.goes_with and anchor is None:
            notes.append("to say what goes with a product, send its item_id")
        slots, bought, personal = self._shopper(st, query, notes)
        rows, context = context_of(st, slots, self.config.context_items)
        if not wishes and anchor is None and context is None:
            raise RequestError("message", "says nothing to look for (only refinements, and "
                               "no earlier turn, item or shopper history to refine)")
        turns = [Turn(v, text.lexical.scores(w)) for w, v in zip(wishes, vectors, strict=True)]
        mask = allowed(st, c, bought, text)
        keys, values = ranking.top(scores(st, turns, context, anchor, self.config), mask,
                                   query.k * self.rules.oversample)
        ranked = ranking.rank(st.items, keys, values, query.k, self.rules.diversity_cap,
                              "assist", st.model.version)
        said = " ".join(wishes[-1:])
        items = [self._item(st, r, said, rows, anchor, c, text) for r in ranked.items]
        if not items:
            priced = not np.isnan(st.items.price[st.items.alive]).all()
            bounded = c["min_price"] is not None or c["max_price"] is not None
            notes.append("no product of this shop has a price recorded" if bounded and not priced
                         else "no product satisfies all of: " + _constraints_text(c))
        cid = query.conversation_id or uuid.uuid4().hex
        seen = {"wishes": wishes, **c, "personalised": personal}
        record = {"message": query.message[:500], "wishes": wishes, **c,
                  "shown": [i.item_id for i in items], "shown_brands": [i.brand for i in items],
                  "shown_prices": [i.price for i in items]}
        note = "; ".join(notes) or None
        return AssistAnswer(cid, 0, seen, items, note, st.model.version), record

    def _item(self, st: ServingState, rec, wishes: str, rows: np.ndarray, anchor: int | None,
              c: dict, text: CatalogText) -> AssistItem:
        slot = st.items.slot_of[rec.item_id]
        price = float(st.items.price[slot])
        return AssistItem(rec.item_id, rec.score, rec.title, rec.category,
                          st.items.brands[slot], None if np.isnan(price) else price,
                          reasons(st, slot, wishes, rows, anchor, c, text))

    def _anchor(self, st: ServingState, c: dict, query: AssistQuery,
                notes: list[str]) -> int | None:
        """The slot of the item the conversation is about (None: none)."""
        if not c["item_id"]:
            return None
        slot = st.items.slot(c["item_id"])
        if slot >= 0:
            return slot
        if query.item_id:
            raise RequestError.unknown_id("item_id", query.item_id, "not_found")
        notes.append(f"the item asked about earlier ({c['item_id']}) is gone from the catalog")
        c["item_id"] = None
        return None

    def _shopper(self, st: ServingState, query: AssistQuery,
                 notes: list[str]) -> tuple[np.ndarray, set[str], bool]:
        """The shopper's item slots (oldest first), their excluded items, and whether the
        answer is personal."""
        if query.events:
            slots = []
            for i, (item, _) in enumerate(query.events):
                slot = st.items.slot(item)
                if slot < 0:
                    raise RequestError.unknown_id(f"events[{i}].item_id", item)
                slots.append(slot)
            excluded = set(self.rules.exclude_event_types)
            bought = {item for item, event in query.events if event in excluded}
            return np.asarray(slots, np.int64), bought, True
        if not query.user_id:
            return np.empty(0, np.int64), set(), False
        user = self._user_of(st, query.user_id)
        if not len(user.slots):
            notes.append(f"user {query.user_id!r} has no events yet: the answer is not "
                         "personal")
        return user.slots, set(user.bought), bool(len(user.slots))

    def vector(self, st: ServingState, wish: str) -> np.ndarray:
        """The wish's query vector for `st`'s model (the tuned tower when the artifact has
        one), from a small LRU cache: a conversation re-reads its earlier wishes."""
        key = (st.model.version, wish)
        with self._cache_lock:
            if key in self._vectors:
                self._vectors.move_to_end(key)
                return self._vectors[key]
        vector = np.asarray(st.model.encode_query(wish), np.float32)
        tower = self._tower(st)
        if tower is not None:
            vector = tower.encode(wish, vector)
        with self._cache_lock:
            self._vectors[key] = vector
            while len(self._vectors) > _VECTORS_KEPT:
                self._vectors.popitem(last=False)
        return vector

    def _tower(self, st: ServingState) -> object:
        version = st.model.version
        if version not in self._towers:
            # The tower's module imports torch: not at the engine's import (a light import).
            from shelflm.models.query_tower import QueryTower
            tower = QueryTower.load(st.artifact_dir) if st.artifact_dir else None
            if tower is not None:
                log.info("%s: queries through its tuned %s tower", st.artifact_dir, tower.method)
            self._towers = {version: tower}
        return self._towers[version]

    def _catalog_text(self, st: ServingState) -> CatalogText:
        """BM25 and the documents of `st`'s catalog: cached until it changes, then rebuilt
        from copies of its fields taken under the lock (an upsert grows them meanwhile)."""
        cached = self._text
        if cached is not None and cached[0] == _text_key(st):
            return cached[1]
        with self._lock:
            key, items = _text_key(st), st.items
            fields = (list(items.titles), list(items.brands), list(items.categories))
        text = catalog_text(*fields)
        self._text = (key, text)
        return text

    def stats(self) -> dict:
        """What the desk holds (GET /model)."""
        towers = [t for t in self._towers.values() if t is not None]
        return {"query_tower": towers[0].method if towers else None,
                "wish_vectors_cached": len(self._vectors)}


def _text_key(st: ServingState) -> tuple[int, int, int]:
    """Changes whenever the catalog's slots or texts may have: a new CatalogText is due."""
    return (id(st.items), len(st.items.ids), st.items.clock)


def _constraints_text(c: dict) -> str:
    parts = [f"price >= {c['min_price']}" if c["min_price"] is not None else "",
             f"price <= {c['max_price']}" if c["max_price"] is not None else "",
             f"category in {c['categories']}" if c["categories"] else "",
             f"brand not in {c['exclude_brands']}" if c["exclude_brands"] else "",
             f"without {c['exclude_terms']}" if c["exclude_terms"] else "",
             f"{len(c['exclude'])} excluded ids" if c["exclude"] else ""]
    return ", ".join(p for p in parts if p) or "live, in-stock products"
