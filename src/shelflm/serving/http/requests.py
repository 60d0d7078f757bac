"""One request model per route: FastAPI derives the parsing, the validation and the OpenAPI
from these, and the hot path validates with the same models. `route_models(config)` gives the
server's models: the ones below with ApiConfig's limits (max_k, max_events, max_items) set on
their fields, so every limit lives in a model and shows in the OpenAPI.

Bodies are strict JSON (`"k": true`, `"k": "3"` or `"in_stock_only": 0` are refused, not
coerced); a query string is text, so its numbers are read from ASCII digits only."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from shelflm.data.schema import EVENT_TYPES
from shelflm.models.modality_inputs import VECTORS_COLUMN
from shelflm.serving.config import ApiConfig
from shelflm.serving.ranking import Filters

ID_MAX, TEXT_MAX, QUERY_MAX, PRICE_MAX = 128, 1000, 512, 1e9
VECTOR_MAX, MODALITIES_MAX = 4096, 8  # an item's modality vectors: values each, how many
Id = Field(min_length=1, max_length=ID_MAX)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # the one list, in data.schema
_INTEGER = re.compile(r"[0-9]{1,12}")  # ASCII only: no "1_0", no other scripts' digits
_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")


def _query_number(kind: type, pattern: re.Pattern, noun: str) -> BeforeValidator:
    """Reads a query-string number as `kind` when the text fullmatches `pattern`."""

    def parse(value: object) -> object:
        if not isinstance(value, str):
            return value
        if not pattern.fullmatch(value):
            raise PydanticCustomError(f"{kind.__name__}_parsing",
                                      f"expected {noun} in ASCII digits, got {{given}}",
                                      {"given": repr(value[:40])})
        return kind(value)

    return BeforeValidator(parse)


def _json_integer(value: object) -> object:
    # JSON Schema's integer is any number without a fraction (3.0 too); never a bool or text.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


QueryInt = Annotated[int, Strict(), _query_number(int, _INTEGER, "an integer")]
JsonInt = Annotated[int, Strict(), BeforeValidator(_json_integer)]
Timestamp = Annotated[int, Strict(), Field(ge=0, le=2**40), BeforeValidator(_json_integer)]
# Limits go before a BeforeValidator, or the JSON schema of `X | None` loses them.
QueryPrice = Annotated[float, Strict(), Field(ge=0, le=PRICE_MAX),
                       _query_number(float, _DECIMAL, "a number")]
STRICT_BODY = ConfigDict(extra="forbid", strict=True)


class EventIn(BaseModel):
    """One shopper event; the server's clock is used when `timestamp` is left out."""

    model_config = STRICT_BODY
    user_id: str = Id
    item_id: str = Id
    event: EventType = "view"
    timestamp: Timestamp | None = None
    value: float = Field(1.0, ge=-1e9, le=1e9, allow_inf_nan=False)


class EventBatch(BaseModel):
    """POST /events."""

    model_config = STRICT_BODY
    events: list[EventIn] = Field(min_length=1)


class SessionEvent(BaseModel):
    model_config = STRICT_BODY
    item_id: str = Id
    event: EventType = "view"


class FilterFields(BaseModel):
    """How many items and the business-rule fields, shared by every route that filters."""

    model_config = STRICT_BODY
    k: JsonInt = Field(10, ge=1, description="how many items")
    category: str | None = Field(None, min_length=1, max_length=256,
                                 description="category path prefix")
    min_price: float | None = Field(None, ge=0, le=PRICE_MAX, allow_inf_nan=False,
                                    description="lowest price")
    max_price: float | None = Field(None, ge=0, le=PRICE_MAX, allow_inf_nan=False,
                                    description="highest price")
    exclude: list[Annotated[str, Id]] = Field(default_factory=list, max_length=200,
                                              description="item ids to leave out")
    in_stock_only: bool = Field(True, description="hide out-of-stock items")

    def filters(self) -> Filters:
        """The engine's Filters (RequestError on min_price > max_price)."""
        return Filters(self.category, self.min_price, self.max_price, tuple(self.exclude),
                       self.in_stock_only)


class RecommendQuery(FilterFields):
    """GET /users/{user_id}/recommendations' query string; unknown parameters are ignored
    (cache busters, tracking tags)."""

    model_config = ConfigDict(extra="ignore", strict=False)
    k: QueryInt = Field(10, ge=1, description="how many items")
    min_price: QueryPrice | None = Field(None, description="lowest price")
    max_price: QueryPrice | None = Field(None, description="highest price")
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
    k: QueryInt = Field(10, ge=1, description="how many items")


class SessionRequest(FilterFields):
    """POST /sessions/recommendations."""

    events: list[SessionEvent] = Field(min_length=1, max_length=200)


class SearchRequest(FilterFields):
    """POST /search."""

    query: str = Field(min_length=1, max_length=QUERY_MAX)
    user_id: str | None = Field(None, min_length=1, max_length=ID_MAX)


AttributeValue = (Annotated[str, Field(max_length=256)] | int
                  | Annotated[float, Field(allow_inf_nan=False)] | bool | None)
ModalityVector = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]],
                           Field(min_length=1, max_length=VECTOR_MAX)]


class ItemIn(BaseModel):
    """A product as the shop describes it; `in_stock` lands in the attributes JSON."""

    model_config = STRICT_BODY
    item_id: str = Id
    title: str = Field(min_length=1, max_length=TEXT_MAX)
    brand: str = Field("", max_length=256)
    category: str = Field("", max_length=512)
    price: float | None = Field(None, ge=0, le=PRICE_MAX, allow_inf_nan=False)
    description: str = Field("", max_length=20_000)
    attributes: dict[Annotated[str, Field(min_length=1, max_length=64)], AttributeValue] = \
        Field(default_factory=dict, max_length=32,
              description="up to 32 named values (strings of at most 256 characters)")
    in_stock: bool = True
    vectors: dict[Annotated[str, Field(min_length=1, max_length=32)], ModalityVector] = Field(
        default_factory=dict, max_length=MODALITIES_MAX,
        description="the item's vectors of the model's vector modalities (e.g. an image "
        "embedding), {name: [numbers]} of the trained widths; one left out is missing for "
        "this item (an unknown name, another width: 422)")


class ItemBatch(BaseModel):
    """PUT /items."""

    model_config = STRICT_BODY
    items: list[ItemIn] = Field(min_length=1)


class ReloadRequest(BaseModel):
    """POST /admin/reload."""

    model_config = STRICT_BODY
    artifact_dir: str = Field(min_length=1, max_length=4096)


@dataclass(frozen=True)
class RouteModels:
    """The request models of one server, with its ApiConfig limits."""

    recommend: type[RecommendQuery]
    similar: type[SimilarQuery]
    session: type[SessionRequest]
    search: type[SearchRequest]
    events: type[EventBatch]
    items: type[ItemBatch]


def route_models(config: ApiConfig) -> RouteModels:
    """The models above with `config`'s limits set on their fields (k <= max_k, at most
    max_events events and max_items items per batch)."""

    def limited(base: type[BaseModel], **fields) -> type:
        return create_model(base.__name__, __base__=base, __module__=__name__,
                            __doc__=base.__doc__, **fields)

    def k(kind: object) -> tuple:
        return kind, Field(10, ge=1, le=config.max_k, description="how many items")

    return RouteModels(
        recommend=limited(RecommendQuery, k=k(QueryInt)),
        similar=limited(SimilarQuery, k=k(QueryInt)),
        session=limited(SessionRequest, k=k(JsonInt)), search=limited(SearchRequest, k=k(JsonInt)),
        events=limited(EventBatch, events=(list[EventIn], Field(
            min_length=1, max_length=config.max_events, description="a batch of events"))),
        items=limited(ItemBatch, items=(list[ItemIn], Field(
            min_length=1, max_length=config.max_items, description="a batch of products"))))


def items_frame(items: list[ItemIn]) -> pd.DataFrame:
    """Catalog rows (ITEM_COLUMNS) from validated items, and a `vectors` column
    (models.modality_inputs.VECTORS_COLUMN) when any item carries modality vectors."""
    rows = []
    for it in items:
        attrs = dict(it.attributes, in_stock=it.in_stock)
        rows.append({"item_id": it.item_id, "title": it.title, "brand": it.brand,
                     "category": it.category,
                     "price": math.nan if it.price is None else it.price,
                     "description": it.description, "attributes": json.dumps(attrs)})
    frame = pd.DataFrame(rows)
    if any(it.vectors for it in items):
        frame[VECTORS_COLUMN] = pd.Series([it.vectors or None for it in items], dtype=object)
    return frame
