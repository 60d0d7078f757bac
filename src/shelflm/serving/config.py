"""Typed configuration of the serving engine, its backends and the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shelflm.data.schema import EVENT_TYPES


class IndexConfig(BaseModel):
    """Which faiss index holds the item vectors and how HNSW is tuned."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["auto", "exact", "hnsw"] = Field(
        "auto", description="exact inner product, HNSW, or auto (HNSW above hnsw_above items)")
    hnsw_above: int = Field(50_000, ge=1, description="catalog size from which auto picks HNSW")
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW neighbours per node")
    ef_construction: int = Field(200, ge=8, description="HNSW build-time beam width")
    ef_search: int = Field(128, ge=8, description="HNSW query-time beam width")
    rebuild_dead_fraction: float = Field(
        0.2, gt=0, le=1, description="rebuild HNSW once this share of its rows are tombstones")
    exact_below_allowed: float = Field(
        0.05, ge=0, le=1,
        description="HNSW answers a filter allowing fewer than this share of items by exact scan")


class StoreConfig(BaseModel):
    """Where events are kept."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sqlite", "memory"] = Field("sqlite", description="event store backend")
    path: Path = Field(Path("shelflm-events.sqlite"), description="SQLite file (sqlite backend)")
    recent_length: int = Field(
        50, ge=1, le=1000, description="events kept in each user's compressed recent sequence")


class RulesConfig(BaseModel):
    """Business rules applied after retrieval."""

    model_config = ConfigDict(extra="forbid")

    exclude_event_types: tuple[str, ...] = Field(
        ("purchase",), description="a user's items with these events are not recommended again")
    diversity_cap: int = Field(
        3, ge=0, description="at most this many items per leaf category in one answer (0 = off)")
    oversample: int = Field(
        4, ge=1, le=50, description="candidates retrieved per answer slot, room for the rules")
    query_weight: float = Field(
        0.7, ge=0, le=1, description="share of the query (vs the user) in a personalised search")

    @field_validator("exclude_event_types")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in value if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event types {bad} (expected some of {EVENT_TYPES})")
        return value


class ApiConfig(BaseModel):
    """HTTP limits, API keys and CORS."""

    model_config = ConfigDict(extra="forbid")

    api_keys: list[str] = Field(
        default_factory=list, description="accepted X-API-Key values; empty = writes are open")
    keys_for_reads: bool = Field(False, description="also require a key for read routes")
    cors_origins: list[str] = Field(default_factory=list, description="allowed CORS origins")
    max_k: int = Field(100, ge=1, le=10_000, description="largest k a request may ask for")
    max_events: int = Field(1000, ge=1, description="largest event batch in one POST /events")
    max_items: int = Field(500, ge=1, description="largest item batch in one PUT /items")


class ServingConfig(BaseModel):
    """Everything `shelflm serve` needs besides the artifact directory."""

    model_config = ConfigDict(extra="forbid")

    index: IndexConfig = Field(default_factory=IndexConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    model_loader: str = Field(
        "shelflm.models.artifact:load_artifact",
        description="'module:function' turning an artifact directory into a ServingModel")
    user_cache_size: int = Field(
        50_000, ge=0, description="users whose history inputs, user vector and last two "
        "answers are kept (LRU; ~11 KB each on Beauty, mostly the answer and its JSON); an "
        "event for a user drops its entry, so answers stay fresh (0 = off)")
    text_encoder: Literal["onnx", "onnx-int8", "pytorch"] = Field(
        "onnx", description="language model runtime for queries and new items' text: "
        "onnx (exported once, cosine >= 0.99 to PyTorch), onnx-int8 (quantised weights) or "
        "pytorch (exactly as the saved vectors were made)")
    onnx_cache_dir: Path | None = Field(
        None, description="folder for ONNX exports (None = $SHELFLM_CACHE/onnx or "
        "~/.cache/shelflm/onnx); the first use of a model pays the export")
    warm_users: int = Field(
        50_000, ge=0, description="at start, before /health/ready, compute the cached inputs "
        "and vectors of this many most recently active users (capped by user_cache_size; each "
        "worker; ~0.7 ms per user), so returning shoppers skip the store and the user tower "
        "on their first request (0 = start at once, cold)")
    refresh_on_ingest: int = Field(
        100, ge=0, description="users of a POST /events batch whose cached state is recomputed "
        "before the call returns, so their next request is a cache hit; users past this many "
        "(a bulk import) are computed on their next request")
    user_tower: Literal["onnx", "pytorch"] = Field(
        "onnx", description="runtime of the user tower: onnx (exported once per artifact, "
        "checked against PyTorch on load) or pytorch")
    encoder_threads: int = Field(
        1, ge=1, le=64, description="threads of the ONNX session encoding a query or new item")
