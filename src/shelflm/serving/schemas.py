"""Request bodies of the HTTP API, with the limits that keep one request cheap."""

from __future__ import annotations

import json
import math
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
