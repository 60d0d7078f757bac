"""Request bodies of the HTTP API, with the limits that keep one request cheap."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

Id = Field(min_length=1, max_length=128)
EventType = Literal["view", "click", "add_to_cart", "purchase", "rating"]


class EventIn(BaseModel):
    """One shopper event; the server's clock is used when `timestamp` is left out."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Id
    item_id: str = Id
    event: EventType = "view"
    timestamp: int | None = Field(None, ge=0, le=2**40)
    value: float = Field(1.0, allow_inf_nan=False)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1)


class SessionEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Id
    event: EventType = "view"


class FilterFields(BaseModel):
    """Business-rule fields shared by the POST bodies."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1)
    category: str | None = Field(None, min_length=1, max_length=256)
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    exclude: list[str] = Field(default_factory=list, max_length=200)
    in_stock_only: bool = True


class SessionRequest(FilterFields):
    events: list[SessionEvent] = Field(min_length=1, max_length=200)


class SearchRequest(FilterFields):
    query: str = Field(min_length=1, max_length=512)
    user_id: str | None = Field(None, min_length=1, max_length=128)


class ItemIn(BaseModel):
    """A product as the shop describes it; `in_stock` lands in the attributes JSON."""

    model_config = ConfigDict(extra="forbid")
    item_id: str = Id
    title: str = Field(min_length=1, max_length=1000)
    brand: str = Field("", max_length=256)
    category: str = Field("", max_length=512)
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    description: str = Field("", max_length=20_000)
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    in_stock: bool = True

    @field_validator("attributes")
    @classmethod
    def _small(cls, value: dict) -> dict:
        if len(json.dumps(value)) > 10_000:
            raise ValueError("attributes: at most 10,000 characters of JSON")
        return value


class ItemBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemIn] = Field(min_length=1)


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifact_dir: str = Field(min_length=1, max_length=4096)


def items_frame(items: list[ItemIn]) -> pd.DataFrame:
    """Catalog rows (ITEM_COLUMNS) from validated items."""
    rows = []
    for it in items:
        attrs = dict(it.attributes, in_stock=it.in_stock)
        rows.append({"item_id": it.item_id, "title": it.title, "brand": it.brand,
                     "category": it.category,
                     "price": math.nan if it.price is None else it.price,
                     "description": it.description, "attributes": json.dumps(attrs)})
    return pd.DataFrame(rows)


class FieldError(ValueError):
    """A request value that fails a check made outside pydantic; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _number(params: Mapping[str, str], name: str, kind: type, low: float) -> float | int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise FieldError(name, f"expected a {kind.__name__}, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value < low:
        raise FieldError(name, f"must be a finite number >= {low}, got {raw[:40]!r}")
    return value


def _text(params: Mapping[str, str], name: str, max_length: int) -> str | None:
    raw = params.get(name)
    if raw is not None and not 1 <= len(raw) <= max_length:
        raise FieldError(name, f"length must be 1..{max_length}")
    return raw


def parse_recommend_query(params: Mapping[str, str], max_k: int) -> tuple[int, dict]:
    """k and filter keyword arguments from GET /users/{id}/recommendations' query string.

    Parsed by hand: FastAPI's per-parameter machinery cost as much CPU as the engine itself
    on this, the hottest route (benchmarks/serving.py)."""
    k = _number(params, "k", int, 1)
    k = 10 if k is None else int(k)
    if k > max_k:
        raise FieldError("k", f"at most {max_k}, got {k}")
    exclude = _text(params, "exclude", 8192)
    stock = params.get("in_stock_only", "true").lower()
    if stock not in ("true", "false", "1", "0"):
        raise FieldError("in_stock_only", f"expected true or false, got {stock[:40]!r}")
    low, high = _number(params, "min_price", float, 0), _number(params, "max_price", float, 0)
    if low is not None and high is not None and low > high:
        raise FieldError("min_price", "greater than max_price")
    return k, {"category": _text(params, "category", 256), "min_price": low, "max_price": high,
               "exclude": tuple(x for x in (exclude or "").split(",") if x)[:200],
               "in_stock_only": stock in ("true", "1")}


def _param(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


RECOMMEND_QUERY_DOCS = [
    _param("k", {"type": "integer", "minimum": 1, "default": 10}, "how many items"),
    _param("category", {"type": "string", "maxLength": 256}, "category path prefix"),
    _param("exclude", {"type": "string", "maxLength": 8192}, "comma-separated item ids"),
    _param("min_price", {"type": "number", "minimum": 0}, "lowest price"),
    _param("max_price", {"type": "number", "minimum": 0}, "highest price"),
    _param("in_stock_only", {"type": "boolean", "default": True}, "hide out-of-stock items"),
]
