"""A shopper's recent behaviour as one short text: the first segment of a cross-encoder's
input (the candidate's text is the second).

    Liked: Star Wars (1977); Fargo (1996). Disliked: Kalifornia (1993).

Compression keeps it inside the model's token budget: the last k events only, most recent
first; an item seen twice counts once (its latest label); titles cut to a number of
characters; optionally grouped by category ("Liked: Comedy: A, B; Drama: C."). Items
without text are left out; a history left with none reads "No history.". What still does
not fit is cut by the tokenizer (models/cross_encoder.py), and the cut is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import ConfigDict

from shelflm.data.pair_cases import PairCases, like_logodds


@dataclass
class HistoryTextConfig:
    """How a history becomes text."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    last_k: int = field(default=10, metadata={
        "help": "Most recent events kept (older ones are dropped)."})
    dedupe: bool = field(default=True, metadata={
        "help": "An item that occurs more than once is named once, with its latest label."})
    item_chars: int = field(default=60, metadata={
        "help": "Each item's text cut to this many characters (0: no cut)."})
    group_by_category: bool = field(default=False, metadata={
        "help": "Name items under their category (the last level of the path)."})

    def __post_init__(self) -> None:
        if self.last_k < 1 or self.item_chars < 0:
            raise ValueError("HistoryTextConfig: last_k must be >= 1 and item_chars >= 0, "
                             f"got {self.last_k} and {self.item_chars}")


def history_text(texts: Sequence[str], liked: Sequence[bool], config: HistoryTextConfig,
                 categories: Sequence[str] | None = None, ids: Sequence[object] | None = None,
                 ) -> str:
    """The history (oldest first, as stored) as text, most recent first. `ids` tell which
    entries are the same item (default: the texts); `categories` are category paths."""
    keys = list(ids) if ids is not None else list(texts)
    if not (len(texts) == len(liked) == len(keys)) or (
            categories is not None and len(categories) != len(texts)):
        raise ValueError("history_text: texts, liked, ids and categories differ in length")
    picked, seen = [], set()
    for k in reversed(range(len(texts))):  # most recent first
        if not str(texts[k]).strip() or (config.dedupe and keys[k] in seen):
            continue  # an item without text says nothing here
        seen.add(keys[k])
        picked.append(k)
        if len(picked) == config.last_k:
            break
    parts = []
    for label, name in ((True, "Liked"), (False, "Disliked")):
        rows = [k for k in picked if bool(liked[k]) == label]
        if rows:
            parts.append(f"{name}: {_names(rows, texts, categories, config)}.")
    return " ".join(parts) if parts else "No history."


def _names(rows: list[int], texts: Sequence[str], categories: Sequence[str] | None,
           config: HistoryTextConfig) -> str:
    def cut(text: str) -> str:
        text = " ".join(str(text).split())
        return text[:config.item_chars].rstrip() if config.item_chars else text

    if not config.group_by_category or categories is None:
        return "; ".join(cut(texts[k]) for k in rows)
    groups: dict[str, list[str]] = {}
    for k in rows:
        leaf = str(categories[k]).split(">")[-1].strip() or "Other"
        groups.setdefault(leaf, []).append(cut(texts[k]))
    return "; ".join(f"{leaf}: {', '.join(names)}" for leaf, names in groups.items())


@dataclass
class PairTexts:
    """Cases as the cross-encoder reads them: history text, candidate text, the first
    stage's log-odds, and the labels."""

    histories: list[str]
    candidates: list[str]
    prior: np.ndarray  # (m,) float32: a first-stage log-odds (models/cross_encoder.py)
    liked: np.ndarray  # (m,) float32 0 / 1
    rating: np.ndarray  # (m,) float32; NaN: no rating (left out of the rating loss)

    def __len__(self) -> int:
        return len(self.candidates)

    def take(self, rows: np.ndarray) -> PairTexts:
        """The cases at `rows`, in that order."""
        return PairTexts([self.histories[i] for i in rows], [self.candidates[i] for i in rows],
                         self.prior[rows], self.liked[rows], self.rating[rows])


def pair_texts(cases: PairCases, item_texts: Sequence[str], config: HistoryTextConfig,
               categories: Sequence[str] | None = None) -> PairTexts:
    """PairCases over a catalog whose rows render to `item_texts` (and have `categories`);
    the prior is the log-odds of each history's liked share."""
    texts = np.asarray(item_texts, dtype=object)
    cats = None if categories is None else np.asarray(categories, dtype=object)
    histories = [history_text(texts[h], liked, config, None if cats is None else cats[h], h)
                 for h, liked in zip(cases.history, cases.history_liked, strict=True)]
    return PairTexts(histories, [str(t) for t in texts[cases.target]],
                     like_logodds(cases.history_liked),
                     cases.liked.astype(np.float32), cases.rating.astype(np.float32))
