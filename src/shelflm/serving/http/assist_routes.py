"""The shopping assistant over HTTP: POST /assist takes one conversation turn and answers it
with products and their reasons (serving/assist_desk.py does the work)."""

# No `from __future__ import annotations`: FastAPI reads the local request model from it.
import math
from dataclasses import asdict
from typing import Annotated

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field, create_model

from shelflm.serving.assist import AssistItem, AssistQuery
from shelflm.serving.config import ApiConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.errors import ANY, BODY, KEYED, documented, json_response
from shelflm.serving.http.requests import ID_MAX, PRICE_MAX, STRICT_BODY, Id, JsonInt, SessionEvent
from shelflm.serving.http.responses import answers_with

MESSAGE_MAX = 100_000  # a hard cap; [serving.assist] max_message_chars is the real limit


class AssistRequest(BaseModel):
    """POST /assist: one turn of a conversation."""

    model_config = STRICT_BODY
    message: str = Field(min_length=1, max_length=MESSAGE_MAX, description="what the shopper "
                         "wrote, e.g. 'a gift for a dad who hikes, under 40' or 'cheaper'")
    conversation_id: str | None = Field(None, min_length=1, max_length=ID_MAX, description=(
        "the id an earlier answer returned: this turn continues that conversation"))
    user_id: str | None = Field(None, min_length=1, max_length=ID_MAX,
                                description="a known shopper: their recent items personalise")
    events: list[SessionEvent] = Field(default_factory=list, max_length=200, description=(
        "an anonymous session's events, oldest first (instead of user_id)"))
    item_id: str | None = Field(None, min_length=1, max_length=ID_MAX, description=(
        "the product the question is about ('what goes with this?')"))
    min_price: float | None = Field(None, ge=0, le=PRICE_MAX, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, le=PRICE_MAX, allow_inf_nan=False)
    categories: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=20, description="category path prefixes (any of)")
    exclude: list[Annotated[str, Id]] = Field(default_factory=list, max_length=200,
                                              description="item ids to leave out")
    k: JsonInt = Field(10, ge=1, description="how many products")

    def query(self) -> AssistQuery:
        """The engine's AssistQuery."""
        return AssistQuery(self.message, self.conversation_id, self.user_id,
                           tuple((e.item_id, e.event) for e in self.events), self.item_id,
                           self.min_price, self.max_price, tuple(self.categories),
                           tuple(self.exclude), self.k)


class AssistBody(BaseModel):
    conversation_id: str = Field(description="send it with the next turn to continue")
    turn: int = Field(description="this turn's number in the conversation (1: the first)")
    understood: dict = Field(description="the wishes read so far (oldest first) and the "
                             "constraints in force after this turn")
    items: list[AssistItem] = Field(description="each with its reasons: the query terms it "
                                    "matched, the item it goes with, the shopper's item it is "
                                    "like, the budget it fits")
    note: str | None = Field(description="why the answer is empty, or what could not be used")
    model_version: str


def assist_routes(app: FastAPI, engine: Engine, reads: list, config: ApiConfig) -> None:
    """Attach POST /assist (k limited by the server's max_k)."""
    request = create_model("AssistRequest", __base__=AssistRequest, __module__=__name__,
                           __doc__=AssistRequest.__doc__,
                           k=(JsonInt, Field(10, ge=1, le=config.max_k,
                                             description="how many products")))
    keyed = KEYED if reads else ()

    @app.post("/assist", dependencies=reads, tags=["recommend"],
              responses={**answers_with(AssistBody, "products with their reasons"),
                         **documented(*ANY, *keyed, *BODY, 404)})
    def assist(body: request) -> Response:  # type: ignore[valid-type]
        """One turn of a shopping conversation: the message, with what was said before
        (conversation_id) and who asks (user_id or a session's events), answered with
        products and the reasons for each. A follow-up ('cheaper', 'not that brand',
        'something for coffee instead') narrows or shifts the answer."""
        answer = engine.assistant.turn(body.query())
        data = asdict(answer)
        for item in data["items"]:
            item["score"] = float(item["score"]) if math.isfinite(item["score"]) else 0.0
        return json_response(data)
