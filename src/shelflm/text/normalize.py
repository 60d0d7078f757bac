"""Cleaning shop text: HTML tags and entities out, whitespace collapsed (vectorised)."""

from __future__ import annotations

import html
import re

import pandas as pd

_TAG = re.compile(r"<[^>]{0,500}>")
_SPACE = r"\s+"


def clean_text(text: str) -> str:
    """One string with HTML entities decoded, tags removed and whitespace collapsed (as
    `clean_column` does, without its pandas overhead on every query a server reads)."""
    if "&" in text:
        text = html.unescape(text)
    return re.sub(_SPACE, " ", _TAG.sub(" ", text)).strip()


def clean_column(values: pd.Series) -> pd.Series:
    """A string column cleaned like `clean_text`; missing values become ""."""
    out = values.astype("string").fillna("")
    # Entities first: shops often escape tags (&lt;br&gt;), which must then go as tags too.
    has_entity = out.str.contains("&", regex=False)
    if has_entity.any():
        out = out.where(~has_entity, out[has_entity].map(html.unescape))
    out = out.str.replace(_TAG, " ", regex=True)
    return out.str.replace(_SPACE, " ", regex=True).str.strip()
