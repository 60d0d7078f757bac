"""What a shopper's message says beyond its topic: price bounds ("under 40", "between 10 and
20 dollars"), relative refinements ("cheaper", "not that brand") and exclusions ("no nike",
"without sugar"). The rest of the message is the wish, which the language model reads.

Rules, not a model: they are predictable, a shop can read them, and they only ever take
out what they understood (an unparsed message is all wish).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUM = r"\$?\s*(\d+(?:[.,]\d+)?)\s*(?:\$|usd|dollars?|bucks|eur|euros?|€|£)?"
_MAX = re.compile(rf"\b(?:under|below|less than|cheaper than|at most|max(?:imum)?|up to|"
                  rf"no more than)\s+{_NUM}|<\s*{_NUM}|{_NUM}\s+or less\b", re.I)
_MIN = re.compile(rf"\b(?:over|above|more than|at least|min(?:imum)?|from)\s+{_NUM}|"
                  rf">\s*{_NUM}|{_NUM}\s+or more\b", re.I)
_BETWEEN = re.compile(rf"\bbetween\s+{_NUM}\s+and\s+{_NUM}|{_NUM}\s*(?:-|to)\s*{_NUM}", re.I)
_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower price|more affordable|budget)\b",
                      re.I)
_PRICIER = re.compile(r"\b(?:pricier|more expensive|higher end|premium|fancier)\b", re.I)
_THAT_BRAND = re.compile(r"\b(?:not|no|without|except|other than)\s+(?:that|this|the same)\s+"
                         r"brand\b|\b(?:another|a different|different|other)\s+brands?\b", re.I)
_GOES_WITH = re.compile(r"\b(?:goes|go|pairs?|fits?|matches|match) (?:well |nicely )?with "
                        r"(?:this|that|it|my|the)\b[^,.;!?]*", re.I)
_EXCLUDE = re.compile(r"\b(?:not|no|without|except|other than|but not)\s+([a-z0-9][\w&'-]*"
                      r"(?:\s+[a-z0-9][\w&'-]*)?)", re.I)
_FILLER = re.compile(r"\b(?:something|anything|show me|i want|i need|please|instead|"
                     r"and|but|only|one|ones|what|which|that|else|thing|things)\b", re.I)
_NOT_EXCLUDED = {"more", "less", "too", "that", "this", "so", "very", "much", "sure", "longer",
                 "please", "thanks", "instead", "anymore", "one", "ones"}


@dataclass
class ParsedMessage:
    """A message split into its wish (free text) and the constraints it states."""

    wish: str
    min_price: float | None = None
    max_price: float | None = None
    cheaper: bool = False
    pricier: bool = False
    not_that_brand: bool = False
    goes_with: bool = False  # "what goes with this ...": about the item being looked at
    exclude_terms: list[str] = field(default_factory=list)

    @property
    def refines_only(self) -> bool:
        """True when the message only narrows what was asked before (no wish of its own)."""
        return not self.wish


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _first(groups: tuple) -> float:
    return _number(next(g for g in groups if g))


def _prices(text: str, out: ParsedMessage) -> str:
    """Read price bounds into `out`; returns `text` without them."""
    for match in _BETWEEN.finditer(text):
        low, high = sorted(_number(g) for g in match.groups() if g)
        out.min_price, out.max_price = low, high
    text = _BETWEEN.sub(" ", text)
    for match in _MAX.finditer(text):
        out.max_price = _first(match.groups())
    text = _MAX.sub(" ", text)
    for match in _MIN.finditer(text):
        out.min_price = _first(match.groups())
    return _MIN.sub(" ", text)


def parse_message(message: str) -> ParsedMessage:
    """The wish and the constraints of one message (see the module docstring)."""
    out = ParsedMessage(wish="")
    text = _prices(message, out)
    out.goes_with = bool(_GOES_WITH.search(text))
    text = _GOES_WITH.sub(" ", text)
    out.cheaper, out.pricier = bool(_CHEAPER.search(text)), bool(_PRICIER.search(text))
    text = _PRICIER.sub(" ", _CHEAPER.sub(" ", text))
    out.not_that_brand = bool(_THAT_BRAND.search(text))
    text = _THAT_BRAND.sub(" ", text)
    for match in _EXCLUDE.finditer(text):
        words = [w for w in match.group(1).lower().split() if w not in _NOT_EXCLUDED]
        if words:
            out.exclude_terms.append(" ".join(words))
    text = _EXCLUDE.sub(" ", text)
    wish = _FILLER.sub(" ", text)
    wish = re.sub(r"[\s,.;:!?]+", " ", wish).strip(" -")
    out.wish = wish if re.search(r"[^\W\d_]{2,}", wish) else ""
    return out
