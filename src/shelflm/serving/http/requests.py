"""One request model per route: FastAPI derives the parsing, the validation and the OpenAPI
from these, and the hot path validates with the same models."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelflm.data.schema import EVENT_TYPES
from shelflm.serving.ranking import Filters

Id = Field(min_length=1, max_length=128)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # the one list, in data.schema


class EventIn(BaseModel):
    """One shopper event; the server's clock is used when `timestamp` is left out."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Id
    item_id: str = Id
    event: EventType = "view"
    timestamp: int | None = Field(None, ge=0, le=2**40)
    value: float = Field(1.0, allow_inf_nan=False)


class EventBatch(BaseModel):
    """POST /events."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1)


class SessionEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Id
    event: EventType = "view"


class FilterFields(BaseModel):
    """How many items and the business-rule fields, shared by every route that filters."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1, description="how many items")
    category: str | None = Field(None, min_length=1, max_length=256,
                                 description="category path prefix")
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False, description="lowest price")
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False,
                                    description="highest price")
    exclude: list[str] = Field(default_factory=list, max_length=200,
                               description="item ids to leave out")
    in_stock_only: bool = Field(True, description="hide out-of-stock items")

    def filters(self) -> Filters:
        """The engine's Filters (RequestError on min_price > max_price)."""
        return Filters(self.category, self.min_price, self.max_price, tuple(self.exclude),
                       self.in_stock_only)


class RecommendQuery(FilterFields):
    """GET /users/{user_id}/recommendations' query string; unknown parameters are ignored
    (cache busters, tracking tags)."""

    model_config = ConfigDict(extra="ignore")
    exclude: list[Annotated[str, Field(max_length=8192)]] = Field(
        default_factory=list, max_length=200,
        description="item ids to leave out: repeated, or comma-separated (first 200 kept)")

    @field_validator("exclude")
    @classmethod
    def _split(cls, value: list[str]) -> list[str]:
        return [x for v in value for x in v.split(",") if x][:200]


class SimilarQuery(BaseModel):
    """GET /items/{item_id}/similar's query string."""

    model_config = ConfigDict(extra="ignore")
    k: int = Field(10, ge=1, description="how many items")


class SessionRequest(FilterFields):
    """POST /sessions/recommendations."""

    events: list[SessionEvent] = Field(min_length=1, max_length=200)


class SearchRequest(FilterFields):
    """POST /search."""

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
    """PUT /items."""

    model_config = ConfigDict(extra="forbid")
    items: list[ItemIn] = Field(min_length=1)


class ReloadRequest(BaseModel):
    """POST /admin/reload."""

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
