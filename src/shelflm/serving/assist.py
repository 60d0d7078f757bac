"""One turn of the shopping assistant over a ServingState: the message read into a wish and
constraints (text/query_parse.py), merged with what the conversation asked before, the
catalog scored (serving/assist_scoring.py) and each answered product given its reasons
(the query terms it matches, the shopper's item it is like, the item it goes with, the
budget it fits). Pure functions of what they are given; serving/assist_desk.py holds the
lock, the memory and the caches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shelflm.serving import ranking
from shelflm.serving.assist_scoring import Turn, context_vector, conversation_scores
from shelflm.serving.ranking import Filters
from shelflm.serving.state import ServingState
from shelflm.text.lexical import LexicalIndex, document, matched_terms
from shelflm.text.query_parse import ParsedMessage

CARRIED = ("min_price", "max_price", "categories", "exclude", "exclude_brands",
           "exclude_terms", "item_id", "relative", "stated")
_LIKE = 0.5  # text cosine from which an item is "like" one of the shopper's


@dataclass(frozen=True)
class AssistQuery:
    """A conversation turn as the shopper (or the shop's front end) sends it."""

    message: str
    conversation_id: str | None = None
    user_id: str | None = None
    events: tuple[tuple[str, str], ...] = ()  # an anonymous session's (item_id, event)
    item_id: str | None = None  # the product the question is about ("what goes with this")
    min_price: float | None = None
    max_price: float | None = None
    categories: tuple[str, ...] = ()  # category path prefixes; any of them
    exclude: tuple[str, ...] = ()  # item ids
    k: int = 10


@dataclass
class AssistItem:
    """One answered product and why it is there."""

    item_id: str
    score: float
    title: str
    category: str
    brand: str
    price: float | None
    reasons: list[str] = field(default_factory=list)


@dataclass
class AssistAnswer:
    """The products of one turn, what the turn was understood to ask, and a note when the
    answer is empty or part of the message could not be used."""

    conversation_id: str
    turn: int
    understood: dict
    items: list[AssistItem]
    note: str | None
    model_version: str


@dataclass
class CatalogText:
    """The per-catalog views a turn reads: BM25 over each slot's short text, the slots'
    documents and brands (lower case, per slot) and the known brands; rebuilt when the
    catalog changes, so no request lower-cases the catalog again."""

    lexical: LexicalIndex
    documents: list[str]
    slot_brands: np.ndarray
    brands: set[str]


def catalog_text(titles: list[str], brands: list[str], categories: list[str]) -> CatalogText:
    """CatalogText of a catalog's slots (slot i = document i), from copies of its fields."""
    docs = [document(t, b, c).lower() for t, b, c in zip(titles, brands, categories,
                                                          strict=True)]
    lower = np.array([b.lower() for b in brands], dtype=object)
    return CatalogText(LexicalIndex(docs), docs, lower, {b for b in lower if b})


def understood(parsed: ParsedMessage, query: AssistQuery, last: dict | None,
               text: CatalogText) -> tuple[dict, list[str]]:
    """The constraints in force after this turn (the last turn's, changed by this message
    and the request's own fields), and notes on what could not be applied."""
    c = {k: last.get(k) for k in CARRIED} if last else {}
    c = {"min_price": c.get("min_price"), "max_price": c.get("max_price"),
         "categories": list(c.get("categories") or []), "exclude": list(c.get("exclude") or []),
         "exclude_brands": list(c.get("exclude_brands") or []),
         "exclude_terms": list(c.get("exclude_terms") or []), "item_id": c.get("item_id"),
         "relative": list(c.get("relative") or []),
         "stated": dict(c.get("stated") or {"min_price": None, "max_price": None})}
    if parsed.wish and not parsed.goes_with:  # "goes with it" was about the old wish
        c["item_id"] = None
    notes: list[str] = []
    _prices(c, parsed, query, last, notes)
    if parsed.not_that_brand:
        brand = next((b for b in (last or {}).get("shown_brands", []) if b), None)
        if brand:
            c["exclude_brands"].append(brand.lower())
        else:
            notes.append("the products shown so far have no brand recorded")
    for term in parsed.exclude_terms:
        (c["exclude_brands"] if term in text.brands else c["exclude_terms"]).append(term)
    c["categories"] = list(query.categories) or c["categories"]
    c["exclude"] = sorted(set(c["exclude"]) | set(query.exclude))
    c["item_id"] = query.item_id or c["item_id"]
    return c, notes


def _prices(c: dict, parsed: ParsedMessage, query: AssistQuery, last: dict | None,
            notes: list[str]) -> None:
    """Price bounds in `c` after this turn: stated ones ("under 40", the request's fields)
    hold until changed; relative ones ("cheaper" than the last answer's median price) hold
    while the wish does, and a new wish brings the stated bounds back."""
    if parsed.wish:
        for name in c["relative"]:
            c[name] = c["stated"][name]
        c["relative"] = []
    prices = [p for p in (last or {}).get("shown_prices", []) if p is not None]
    if (parsed.cheaper or parsed.pricier) and not prices:
        notes.append("nothing with a price was shown yet to compare with")
    elif parsed.cheaper or parsed.pricier:
        name = "max_price" if parsed.cheaper else "min_price"
        c[name] = round(float(np.median(prices)) + (-0.01 if parsed.cheaper else 0.01), 2)
        c["relative"] = sorted({*c["relative"], name})
    for name in ("min_price", "max_price"):
        value = getattr(query, name) if getattr(query, name) is not None \
            else getattr(parsed, name)
        if value is not None:
            c[name] = c["stated"][name] = value
            c["relative"] = [r for r in c["relative"] if r != name]


def allowed(st: ServingState, c: dict, bought: set[str], text: CatalogText) -> np.ndarray:
    """Slots an answer may hold under the constraints `c` (ranking.Filters' rules, then
    categories, brands and excluded terms) and the shopper's exclusions."""
    items = st.items
    filters = Filters(min_price=c["min_price"], max_price=c["max_price"],
                      exclude=(*c["exclude"], *([c["item_id"]] if c["item_id"] else [])))
    mask = ranking.filter_mask(items, st.base_mask(), filters, bought)
    if c["categories"]:
        mask &= np.logical_or.reduce([items.category_mask(p) for p in c["categories"]])
    if c["exclude_brands"]:
        mask &= ~np.isin(text.slot_brands, c["exclude_brands"])
    for term in c["exclude_terms"]:
        mask &= ~np.fromiter((term in d for d in text.documents), bool,
                             count=len(text.documents))
    return mask


def scores(st: ServingState, turns: list[Turn], context: np.ndarray | None,
           anchor: int | None, config) -> np.ndarray:
    """Every slot's score: the conversation's turns and the shopper's context (text space),
    then the item asked about by behaviour (retrieval space: what is bought with it)."""
    items, cw = st.items, config.context_weight
    if turns:
        out = conversation_scores(items.text, turns, decay=config.decay,
                                  lexical_weight=config.lexical_weight, context=context,
                                  context_weight=cw if context is not None else 0.0)
    elif context is not None:
        out = items.text @ context
    else:
        out = np.zeros(len(items.ids), np.float32)
    if anchor is not None:
        near = items.scored @ ranking.unit(items.scored[anchor]) / items.norms
        out = (1 - cw) * out + cw * near if (turns or context is not None) else near
    return out.astype(np.float32)


def reasons(st: ServingState, slot: int, wishes: str, context: np.ndarray,
            anchor: int | None, c: dict, text: CatalogText) -> list[str]:
    """Why `slot` answers: what it matches, goes with, resembles, and the budget it fits."""
    items, out = st.items, []
    terms = matched_terms(wishes, text.documents[slot]) if wishes else []
    if terms:
        out.append("matches " + ", ".join(f"'{t}'" for t in terms[:4]))
    if anchor is not None:
        out.append(f"goes with {items.titles[anchor] or items.ids[anchor]}")
    if len(context):
        sims = items.text[context] @ items.text[slot]
        j = int(sims.argmax())
        if sims[j] >= _LIKE and context[j] != slot:
            out.append(f"like {items.titles[context[j]] or items.ids[context[j]]}, "
                       "from your recent items")
    price = items.price[slot]
    if (c["min_price"] is not None or c["max_price"] is not None) and not np.isnan(price):
        out.append(f"{price:.2f}, within your price range")
    return out or ["close in meaning to what you asked"]


def context_of(st: ServingState, slots: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The shopper's last `n` distinct items (slots, newest last) and their unit mean text
    vector (None without items)."""
    recent = list(dict.fromkeys(reversed(slots.tolist())))[:n][::-1]
    rows = np.asarray(recent, np.int64)
    return rows, context_vector(st.items.text, rows)
