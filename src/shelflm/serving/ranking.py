"""Answer assembly over an ItemTable: the per-request business rules (filters, diversity cap),
the demotion of what a shopper just saw, the popularity fallback and the "because you viewed
X" explanations. No state of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shelflm.data.schema import EVENT_TYPES
from shelflm.serving.errors import RequestError
from shelflm.serving.items import ItemTable

_VERBS = {"view": "viewed", "click": "clicked", "add_to_cart": "added to your cart",
          "purchase": "bought", "rating": "rated"}


@dataclass(frozen=True)
class Filters:
    """Per-request business rules on top of the configured ones."""

    category: str | None = None  # category path prefix, e.g. "Beauty > Makeup"
    min_price: float | None = None
    max_price: float | None = None
    exclude: tuple[str, ...] = ()
    in_stock_only: bool = True

    def __post_init__(self) -> None:
        if self.min_price is not None and self.max_price is not None and \
                self.min_price > self.max_price:
            raise RequestError("min_price", "greater than max_price")


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
    """A ranked list and which source produced it.

    `revision` marks a personal answer: while the engine reports the same revision for the
    same request, the answer is the same (a renderer may reuse what it made of it). None: the
    answer is made fresh each time (popular items change with any event)."""

    source: str  # personal | session | popular | similar | search | search+user
    items: list[Recommendation] = field(default_factory=list)
    model_version: str = ""
    revision: tuple[int, int] | None = None


def filter_mask(items: ItemTable, base: np.ndarray, filters: Filters,
                bought: set[str]) -> np.ndarray:
    """Allowed slots: `base` (live and in stock, shared, so copied) or every live slot, then
    the request's category, price and exclude rules and the user's excluded (bought) items."""
    mask = base.copy() if filters.in_stock_only else items.alive.copy()
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


def rank(items: ItemTable, keys: np.ndarray, scores: np.ndarray, k: int, cap: int,
         source: str, version: str) -> Answer:
    """The first k of ranked candidates, at most `cap` per leaf category (0: no cap)."""
    out, per_leaf = [], {}
    for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
        leaf = items.leaf[key]
        if cap and leaf:
            if per_leaf.get(leaf, 0) >= cap:
                continue
            per_leaf[leaf] = per_leaf.get(leaf, 0) + 1
        out.append(Recommendation(items.ids[key], score, items.titles[key],
                                  items.categories[key]))
        if len(out) == k:
            break
    return Answer(source, out, version)


def popular(items: ItemTable, mask: np.ndarray, k: int, version: str) -> Answer:
    """The fallback: the k allowed items with the most events (stable ties by slot)."""
    allowed = np.flatnonzero(mask)
    pop = items.popularity[allowed]
    best = allowed[np.lexsort((allowed, -pop))[:k]]
    return Answer("popular", [Recommendation(items.ids[s], float(items.popularity[s]),
                                             items.titles[s], items.categories[s])
                              for s in best], version)


def demote(keys: np.ndarray, scores: np.ndarray,
           slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranked candidates with those in `slots` moved behind all others (each part keeps its
    order and its scores)."""
    late = np.isin(keys, slots)
    order = np.concatenate([np.flatnonzero(~late), np.flatnonzero(late)])
    return keys[order], scores[order]


def explain(items: ItemTable, answer: Answer, slots: np.ndarray, events: np.ndarray) -> None:
    """Attach to each item the recent event whose item is the most similar OTHER item (an
    item never explains itself); no explanation when every recent event is the item itself."""
    if not answer.items:
        return
    recs = np.array([items.slot_of[r.item_id] for r in answer.items], np.int64)
    # Cosine, not inner product: a long history vector must not win every explanation.
    sims = items.scored[recs] @ items.scored[slots].T / items.norms[slots][None, :]
    sims[recs[:, None] == slots[None, :]] = -np.inf
    best = sims.argmax(axis=1)
    alone = np.isneginf(sims[np.arange(len(recs)), best])  # every recent event is of it
    for rec, j, skip in zip(answer.items, best.tolist(), alone.tolist(), strict=True):
        if skip:
            continue
        slot, event = int(slots[j]), EVENT_TYPES[events[j]]
        item, title = items.ids[slot], items.titles[slot]
        rec.because = {"item_id": item, "event": event, "title": title,
                       "text": f"because you {_VERBS[event]} {title or item}"}


def blend_with_user(items: ItemTable, keys: np.ndarray, scores: np.ndarray,
                    user_vector: np.ndarray, w: float) -> tuple[np.ndarray, np.ndarray]:
    """Text candidates re-ranked by w * query cosine + (1 - w) * the user's cosine."""
    # Cosine, so the user's score sits on the query's scale whatever the vector norms.
    taste = items.scored[keys] @ unit(user_vector[:items.score_dim]) / items.norms[keys]
    blended = w * scores + (1 - w) * taste
    order = np.argsort(-blended, kind="stable")
    return keys[order], blended[order]


def top(scores: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and scores of the k best allowed entries, best first (ties by key)."""
    allowed = np.flatnonzero(mask)
    if len(allowed) > k:
        allowed = allowed[np.argpartition(-scores[allowed], k - 1)[:k]]
    order = np.lexsort((allowed, -scores[allowed]))
    return allowed[order], scores[allowed[order]].astype(np.float32)


def unit(v: np.ndarray) -> np.ndarray:
    """`v` scaled to length 1 (a zero vector stays zero), float32."""
    n = float(np.linalg.norm(v))
    return (v / n if n > 0 else v).astype(np.float32)
