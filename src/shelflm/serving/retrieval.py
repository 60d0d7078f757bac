"""Answers computed from one ServingState: a user's inputs from their history, personal and
session answers, similar items and text search, with the configured rules. Pure functions of
the state they are given; the engine holds the lock and chooses the state."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shelflm.data.schema import EVENT_TYPES
from shelflm.serving import ranking
from shelflm.serving.config import RulesConfig
from shelflm.serving.errors import RequestError
from shelflm.serving.items import changed_after
from shelflm.serving.ranking import Answer, Filters
from shelflm.serving.state import ServingState
from shelflm.serving.store import Event
from shelflm.serving.user_cache import UserState

_EVENT_INDEX = {e: i for i, e in enumerate(EVENT_TYPES)}


def user_state(st: ServingState, history: Sequence[Event], bought: set[str],
               generation: int) -> UserState:
    """A user's serving inputs: history items resolved to slots and the user tower's vector."""
    slots = np.array([st.items.slot(e.item_id) for e in history], np.int64)
    known = slots >= 0
    events = np.array([_EVENT_INDEX[e.event] for e in history], np.int64)[known]
    return _computed(st, slots[known], events, bought, generation)


def _computed(st: ServingState, slots: np.ndarray, events: np.ndarray, bought: set[str],
              generation: int) -> UserState:
    vector = st.model.user_vector(st.items.vectors[slots], events) if len(slots) else None
    return UserState(slots, events, bought, vector, generation, st.items.clock)


def _slot_map(old: ServingState, new: ServingState) -> np.ndarray | None:
    """For carrying users' states from `old` to `new` (a reload): each old slot's slot in
    `new` (-1: not live there); None when `new` holds a live item `old` does not, as a
    user's history may then have events `old` dropped (such users are read again)."""
    old_items, new_items = old.items, new.items
    if any(old_items.slot(i) < 0 for i, s in new_items.slot_of.items() if new_items.alive[s]):
        return None
    out = np.full(len(old_items.ids), -1, np.int64)
    for item, s in old_items.slot_of.items():
        out[s] = new_items.slot(item)
    return out


def carrier(old: ServingState, new: ServingState) -> Callable[[UserState | None],
                                                             UserState | None]:
    """Under the lock, for a reload from `old` to `new`: a function that turns a user's state
    computed for `old` into one for `new` (same history and exclusions, no store read, the
    vector from `new`'s model), or None when it must be read again: none given, an item of
    the history changed since, or `new` holds items `old` does not (see _slot_map)."""
    remap, changed = _slot_map(old, new), old.items.changed.copy()

    def carry(user: UserState | None) -> UserState | None:
        if user is None or remap is None or changed_after(changed, user.slots, user.clock):
            return None
        slots = remap[user.slots]
        known = slots >= 0
        return _computed(new, slots[known], user.events[known], user.bought, 0)

    return carry


def session_state(st: ServingState, events: Sequence[tuple[str, str]],
                  excluded: Sequence[str]) -> UserState:
    """An anonymous session's inputs from its (item_id, event) pairs, oldest first; an item
    the catalog does not hold is a RequestError naming it."""
    for i, (item, _) in enumerate(events):
        if st.items.slot(item) < 0:
            raise RequestError.unknown_id(f"events[{i}].item_id", item)
    history = [Event("", item, ev, i) for i, (item, ev) in enumerate(events)]
    bought = {e.item_id for e in history if e.event in set(excluded)}
    return user_state(st, history, bought, 0)


def allowed(st: ServingState, filters: Filters, bought: set[str]) -> np.ndarray:
    """The mask of slots an answer may hold under `filters` and the user's exclusions."""
    return ranking.filter_mask(st.items, st.base_mask(), filters, bought)


def personal(st: ServingState, rules: RulesConfig, user: UserState, k: int, filters: Filters,
             source: str) -> Answer:
    """Nearest items to the user's vector, the items of their last `recently_seen_demoted`
    events ranked last, explained; popular items when there is no vector."""
    if user.vector is None:
        return ranking.popular(st.items, allowed(st, filters, set()), k, st.model.version)
    n = rules.recently_seen_demoted
    seen = np.unique(user.slots[-n:]) if n else None
    answer = retrieve(st, rules, user.vector, k, allowed(st, filters, user.bought), source,
                      seen)
    ranking.explain(st.items, answer, user.slots, user.events)
    return answer


def similar(st: ServingState, rules: RulesConfig, slot: int, k: int,
            filters: Filters) -> Answer:
    """Items nearest to the item in `slot`, which is left out."""
    mask = allowed(st, filters, set())
    mask[slot] = False
    return retrieve(st, rules, st.items.scored[slot], k, mask, "similar")


def text_search(st: ServingState, rules: RulesConfig, query: np.ndarray, k: int,
                filters: Filters, user: UserState | None) -> Answer:
    """Items whose text vectors are nearest `query`; with a user vector, the oversampled text
    candidates are re-ranked by w * cosine + (1 - w) * the user's cosine, w = query_weight."""
    mask = allowed(st, filters, set())
    personal_ = user is not None and user.vector is not None
    wanted = k * rules.oversample if (rules.diversity_cap or personal_) else k
    # Exact scan: one (n, d_text) product is cheap next to encoding the query.
    keys, scores = ranking.top(st.items.text @ ranking.unit(query), mask, wanted)
    if not personal_:
        return rank(st, rules, keys, scores, k, "search")
    keys, scores = ranking.blend_with_user(st.items, keys, scores, user.vector,
                                           rules.query_weight)
    return rank(st, rules, keys, scores, k, "search+user")


def retrieve(st: ServingState, rules: RulesConfig, vector: np.ndarray, k: int,
             mask: np.ndarray, source: str, demoted: np.ndarray | None = None) -> Answer:
    """Index search for `vector` among the allowed slots, the `demoted` slots moved last,
    then the rules."""
    wanted = k * rules.oversample if rules.diversity_cap else k
    vector = vector[:st.items.score_dim]  # a user vector's other columns never score
    if demoted is None or not len(demoted):
        return rank(st, rules, *st.index.search(vector, wanted, mask), k, source)
    keys, scores = st.index.search(vector, wanted + len(demoted), mask)
    return rank(st, rules, *ranking.demote(keys, scores, demoted), k, source)


def rank(st: ServingState, rules: RulesConfig, keys: np.ndarray, scores: np.ndarray, k: int,
         source: str) -> Answer:
    """The first k ranked candidates under the diversity cap."""
    return ranking.rank(st.items, keys, scores, k, rules.diversity_cap, source, st.model.version)
