"""Answers as response bytes, and the bytes of personal answers kept until the engine says the
answer changed (its revision), so a repeated request skips ranking and JSON both."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from shelflm.serving.engine import Engine
from shelflm.serving.ranking import Answer, Filters


class Because(BaseModel):
    """The recent event a personal item is most similar to."""

    item_id: str
    event: str
    title: str | None
    text: str = Field(description='e.g. "because you viewed argan oil shampoo"')


class AnsweredItem(BaseModel):
    item_id: str
    score: float
    title: str | None
    category: str | None
    because: Because | None = Field(description="personal answers only")


class AnswerBody(BaseModel):
    """The ranked items and which source made them (popular: the fallback)."""

    source: Literal["personal", "session", "popular", "similar", "search", "search+user"]
    model_version: str
    items: list[AnsweredItem]


class Stored(BaseModel):
    stored: int = Field(description="events stored")


class Upserted(BaseModel):
    upserted: list[str] = Field(description="the ids added or replaced")


class Deleted(BaseModel):
    deleted: str


class Reloaded(BaseModel):
    model_version: str
    reload_generation: int


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model_version: str


class NotReady(BaseModel):
    """GET /health/ready's 503 body."""

    status: Literal["unavailable"]
    error: str


NOT_READY = {"model": NotReady, "description": "the model or the event store does not answer"}


def answers_with(model: type[BaseModel], description: str) -> dict[int | str, dict]:
    """The documented 200 of a route (its handler returns the bytes itself)."""
    return {200: {"model": model, "description": description}}


def render_answer(a: Answer) -> bytes:
    """The JSON body of an answer (json.dumps: jsonable_encoder costs more than the engine)."""
    return json.dumps({"source": a.source, "model_version": a.model_version, "items": [
        {"item_id": r.item_id, "score": round(r.score, 6), "title": r.title,
         "category": r.category, "because": r.because} for r in a.items]}).encode()


class RenderedAnswers:
    """Bounded LRU of (user, k, filters) -> (revision, bytes) in front of Engine.recommend.

    Bytes, not Answer objects: tens of thousands of cached answers then give the garbage
    collector nothing to walk (a full collection over answer objects is a p99 spike)."""

    def __init__(self, engine: Engine, capacity: int, max_bytes: int = 64 << 20,
                 render: Callable[[Answer], bytes] = render_answer) -> None:
        self.engine, self.capacity, self.render = engine, capacity, render
        self.max_bytes = max_bytes  # of answer bytes kept: memory is bounded, not just count
        self.bytes = 0
        self._entries: OrderedDict[tuple, tuple[tuple[int, int], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def recommend(self, user_id: str, k: int, filters: Filters) -> bytes:
        """The bytes of engine.recommend(user_id, k, filters): kept ones while still current."""
        key = (user_id, k, filters)
        with self._lock:
            entry = self._entries.get(key)
        answer = self.engine.recommend_if_changed(user_id, k, filters,
                                                  None if entry is None else entry[0])
        if answer is None and entry is not None:  # the engine vouches for the kept bytes
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry[1]
        data = self.render(answer)
        if answer.revision is not None and self.capacity > 0:
            with self._lock:
                old = self._entries.pop(key, None)
                self.bytes += len(data) - (len(old[1]) if old else 0)
                self._entries[key] = (answer.revision, data)
                while self._entries and (len(self._entries) > self.capacity
                                         or self.bytes > self.max_bytes):
                    self.bytes -= len(self._entries.popitem(last=False)[1][1])
        return data
