"""The one error a request can meet, raised by the engine and by the HTTP layer alike, and the
text check every free-text input shares."""

from __future__ import annotations

import re
from typing import Literal

import pandas as pd

from shelflm.text.normalize import clean_column, clean_text

ErrorKind = Literal["invalid", "not_found", "too_large", "conflict"]

# Control characters and invisible format characters (soft hyphen, zero-width spaces, BOM):
# what is left after clean_column when a text shows nothing.
_INVISIBLE = r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]+"
BLANK = "empty after removing markup, whitespace and control characters"


class RequestError(ValueError):
    """A request refused for one input: `field` names it, `message` says what is wrong.

    `kind` says why without HTTP words: "invalid" (a bad value, or an unknown id inside the
    request), "not_found" (the one thing the request is about does not exist), "too_large"
    (more than a limit allows), "conflict" (the state does not allow it now). The HTTP layer
    maps kinds to statuses (422, 404, 413, 409).
    """

    def __init__(self, field: str, message: str, kind: ErrorKind = "invalid") -> None:
        self.field, self.message, self.kind = field, message, kind
        super().__init__(f"{field}: {message}")

    @classmethod
    def unknown_id(cls, field: str, item_id: str, kind: ErrorKind = "invalid") -> RequestError:
        """An item id the catalog does not hold."""
        return cls(field, f"unknown item id {item_id!r}", kind)


def blank_texts(values: pd.Series) -> pd.Series:
    """True where a text shows nothing once cleaned as the model's text is (text.normalize:
    entities decoded, tags and whitespace gone) and control characters are dropped too."""
    visible = clean_column(values).str.replace(_INVISIBLE, "", regex=True).str.strip()
    return (visible == "").astype(bool)


def require_text(field: str, text: str) -> None:
    """RequestError on `field` when `text` shows nothing (as blank_texts reads a column)."""
    if not re.sub(_INVISIBLE, "", clean_text(text)).strip():
        raise RequestError(field, BLANK)
