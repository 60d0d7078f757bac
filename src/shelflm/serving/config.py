"""Configs of the serving engine, its backends and the HTTP API (torch-free dataclasses).

`shelflm serve` reads them from a serving-only TOML file or a whole run's [serving] table
(`shelflm.settings.load_serving_config`); worker processes get them as JSON (`to_json`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shelflm.config import config_adapter
from shelflm.data.schema import EVENT_TYPES
from shelflm.serving.config_checks import _STRICT, _in_range, _one_of
from shelflm.serving.stage_config import AssistConfig, RerankConfig, RiskGuardConfig


# Unknown keys in a config file are errors, not silently ignored.
@dataclass
class IndexConfig:
    """Which faiss index holds the item vectors and how HNSW is tuned."""

    __pydantic_config__ = _STRICT

    kind: Literal["auto", "exact", "hnsw"] = field(default="auto", metadata={
        "help": "exact inner product, HNSW, or auto (HNSW above hnsw_above items)"})
    hnsw_above: int = field(default=50_000, metadata={
        "help": "catalog size from which auto picks HNSW, for 64-wide vectors; wider ones "
                "count in proportion (an exact scan costs items x width)"})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW neighbours per node"})
    ef_construction: int = field(default=200, metadata={"help": "HNSW build-time beam width"})
    ef_search: int = field(default=128, metadata={"help": "HNSW query-time beam width"})
    rebuild_dead_fraction: float = field(default=0.2, metadata={
        "help": "rebuild HNSW once this share of its rows are tombstones"})
    exact_below_allowed: float = field(default=0.05, metadata={
        "help": "HNSW answers a filter allowing fewer than this share of items by exact scan"})

    def __post_init__(self) -> None:
        _one_of(self, "kind", ("auto", "exact", "hnsw"))
        _in_range(self, "hnsw_above", 1)
        _in_range(self, "hnsw_m", 4, 128)
        _in_range(self, "ef_construction", 8)
        _in_range(self, "ef_search", 8)
        _in_range(self, "rebuild_dead_fraction", 0, 1, low_open=True)
        _in_range(self, "exact_below_allowed", 0, 1)


DATA_ENV = "SHELFLM_DATA"  # the data directory, when [store] data_dir is not set
DEFAULT_DATA_DIR = "~/.local/share/shelflm"


@dataclass
class StoreConfig:
    """Where events are kept."""

    __pydantic_config__ = _STRICT

    backend: Literal["sqlite", "memory"] = field(default="sqlite", metadata={
        "help": "event store backend"})
    path: Path | None = field(default=None, metadata={
        "help": "SQLite file (sqlite backend); None = events.sqlite in data_dir"})
    data_dir: Path | None = field(default=None, metadata={
        "help": "folder of the default SQLite file (None = $SHELFLM_DATA or "
                "~/.local/share/shelflm)"})
    recent_length: int = field(default=50, metadata={
        "help": "events kept in each user's compressed recent sequence"})

    def __post_init__(self) -> None:
        self.path = None if self.path is None else Path(self.path)
        self.data_dir = None if self.data_dir is None else Path(self.data_dir)
        _one_of(self, "backend", ("sqlite", "memory"))
        _in_range(self, "recent_length", 1, 1000)

    def sqlite_path(self) -> Path:
        """The SQLite file: `path`, else events.sqlite in `data_dir` (its default is read
        from $SHELFLM_DATA when this is called)."""
        if self.path is not None:
            return self.path.expanduser()
        data_dir = self.data_dir or Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)
        return data_dir.expanduser() / "events.sqlite"


@dataclass
class RulesConfig:
    """Business rules applied after retrieval."""

    __pydantic_config__ = _STRICT

    exclude_event_types: tuple[str, ...] = field(default=("purchase",), metadata={
        "help": "a user's items with these events are not recommended again"})
    diversity_cap: int = field(default=3, metadata={
        "help": "at most this many items per leaf category in one answer (0 = off)"})
    oversample: int = field(default=4, metadata={
        "help": "candidates retrieved per answer slot, room for the rules"})
    query_weight: float = field(default=0.7, metadata={
        "help": "share of the query (vs the user) in a personalised search"})
    recently_seen_demoted: int = field(default=10, metadata={
        "help": "personal and session answers rank the items of the shopper's last this many "
                "events (their stored recent history, or the session's events) after every "
                "other candidate: what they just looked at is not offered back first, but "
                "still fills an answer when nothing else qualifies (0 = off)"})

    def __post_init__(self) -> None:
        self.exclude_event_types = tuple(self.exclude_event_types)
        bad = [e for e in self.exclude_event_types if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"exclude_event_types: unknown event types {bad} "
                             f"(expected some of {EVENT_TYPES})")
        _in_range(self, "diversity_cap", 0)
        _in_range(self, "oversample", 1, 50)
        _in_range(self, "query_weight", 0, 1)
        _in_range(self, "recently_seen_demoted", 0, 1000)


@dataclass
class ApiConfig:
    """HTTP limits, API keys and CORS."""

    __pydantic_config__ = _STRICT

    api_keys: list[str] = field(default_factory=list, metadata={
        "help": "accepted X-API-Key values; with none, writes and admin routes answer 403 "
                "unless open_writes"})
    open_writes: bool = field(default=False, metadata={
        "help": "serve writes and admin routes without a key; only allowed when bound to "
                "loopback"})
    keys_for_reads: bool = field(default=False, metadata={
        "help": "also require a key for read routes"})
    cors_origins: list[str] = field(default_factory=list, metadata={
        "help": "allowed CORS origins"})
    max_k: int = field(default=100, metadata={"help": "largest k a request may ask for"})
    max_events: int = field(default=1000, metadata={
        "help": "largest event batch in one POST /events"})
    max_items: int = field(default=500, metadata={
        "help": "largest item batch in one PUT /items"})
    max_body_bytes: int = field(default=1 << 20, metadata={
        "help": "largest request body on every route but PUT /items (413 past it, before the "
                "key check and parsing); a POST /events batch of 1000 events is ~0.3 MiB"})
    max_items_body_bytes: int = field(default=16 << 20, metadata={
        "help": "largest PUT /items body: 500 items at their field limits (~32 KB each)"})
    max_json_depth: int = field(default=32, metadata={
        "help": "deepest nesting of arrays and objects in a JSON body (413 past it); the "
                "routes' bodies need 3"})

    def __post_init__(self) -> None:
        _in_range(self, "max_k", 1, 10_000)
        _in_range(self, "max_events", 1)
        _in_range(self, "max_items", 1)
        _in_range(self, "max_body_bytes", 1024)
        _in_range(self, "max_items_body_bytes", 1024)
        _in_range(self, "max_json_depth", 4, 500)


@dataclass
class ServingConfig:
    """Everything `shelflm serve` needs besides the artifact directory."""

    __pydantic_config__ = _STRICT

    index: IndexConfig = field(default_factory=IndexConfig, metadata={
        "help": "Vector index of the item vectors."})
    store: StoreConfig = field(default_factory=StoreConfig, metadata={
        "help": "Event store."})
    rules: RulesConfig = field(default_factory=RulesConfig, metadata={
        "help": "Business rules applied after retrieval."})
    api: ApiConfig = field(default_factory=ApiConfig, metadata={
        "help": "HTTP limits, API keys and CORS."})
    rerank: RerankConfig = field(default_factory=RerankConfig, metadata={
        "help": "Optional cross-encoder second stage."})
    risk_control: RiskGuardConfig = field(default_factory=RiskGuardConfig, metadata={
        "help": "Risk scoring of users and quarantine of the risky ones' events (not "
                "[risk], the run's section: a serving-only file holding [risk] would read as "
                "a whole-run file)."})
    assist: AssistConfig = field(default_factory=AssistConfig, metadata={
        "help": "The shopping assistant (POST /assist): weights and conversation memory."})
    model_loader: str = field(default="shelflm.serving.runtime:load_artifact", metadata={
        "help": "'module:function' turning an artifact directory into a ServingModel"})
    user_cache_size: int = field(default=50_000, metadata={
        "help": "users whose resolved history, exclusions and user vector the engine keeps "
                "(LRU), so a returning user skips the store and the user tower; the HTTP layer "
                "keeps the response bytes of up to twice as many recommendation answers (two "
                "request shapes per user). An event for a user drops its entry, so answers "
                "stay fresh (0 = off)"})
    response_cache_mb: int = field(default=64, metadata={
        "help": "bound on the bytes of recommendation answers the HTTP layer keeps (least "
                "recently used go first; the entry bound above applies too), so a worker's "
                "memory levels off however many shoppers it sees"})
    text_encoder: Literal["onnx", "onnx-int8", "pytorch"] = field(default="onnx", metadata={
        "help": "language model runtime for queries and new items' text: onnx (exported "
                "once, cosine >= 0.99 to PyTorch), onnx-int8 (quantised weights) or pytorch "
                "(exactly as the saved vectors were made)"})
    onnx_cache_dir: Path | None = field(default=None, metadata={
        "help": "folder for ONNX exports (None = $SHELFLM_CACHE/onnx or "
                "~/.cache/shelflm/onnx); the first use of a model pays the export"})
    warm_users: int = field(default=50_000, metadata={
        "help": "at start, before /health/ready, compute the cached inputs and vectors of "
                "this many most recently active users (capped by user_cache_size; each "
                "worker; ~0.7 ms per user), so returning shoppers skip the store and the user "
                "tower on their first request (0 = start at once, cold)"})
    refresh_on_ingest: int = field(default=100, metadata={
        "help": "users of a POST /events batch whose cached state is recomputed before the "
                "call returns, so their next request is a cache hit; users past this many (a "
                "bulk import) are computed on their next request"})
    user_tower: Literal["onnx", "pytorch"] = field(default="onnx", metadata={
        "help": "runtime of the user tower: onnx (exported once per artifact, checked "
                "against PyTorch on load) or pytorch"})
    encoder_threads: int = field(default=1, metadata={
        "help": "threads of the ONNX session encoding a query or new item"})
    models_dir: Path | None = field(default=None, metadata={
        "help": "POST /admin/reload loads only artifact folders inside this folder (symlinks "
                "and '..' resolved first; a relative artifact_dir is taken inside it) and "
                "its errors show paths relative to it (None = the folder holding the "
                "artifact served at start)"})

    text_weight: float = field(default=0.0, metadata={
        "help": "add this times the language model's own similarity (cosine of an item's LM "
                "vector to the mean LM vector of the shopper's history) to every "
                "recommendation score: what carries to new items and new shops (0 = off)"})
    catalog: Path | None = field(default=None, metadata={
        "help": "serve this shop's catalog (a CSV/TSV/Parquet file with item_id, title, ... "
                "or a dataset folder) instead of the artifact's: items the model was not "
                "trained with are scored from their text alone, so one artifact serves a new "
                "shop with no training on it (None = the artifact's catalog)"})

    def __post_init__(self) -> None:
        if self.onnx_cache_dir is not None:
            self.onnx_cache_dir = Path(self.onnx_cache_dir)
        if self.models_dir is not None:
            self.models_dir = Path(self.models_dir)
        if self.catalog is not None:
            self.catalog = Path(self.catalog)
        _in_range(self, "user_cache_size", 0)
        _in_range(self, "response_cache_mb", 0)
        _in_range(self, "text_weight", 0.0)
        _one_of(self, "text_encoder", ("onnx", "onnx-int8", "pytorch"))
        _in_range(self, "warm_users", 0)
        _in_range(self, "refresh_on_ingest", 0)
        _one_of(self, "user_tower", ("onnx", "pytorch"))
        _in_range(self, "encoder_threads", 1, 64)

    def to_json(self) -> str:
        """This config as JSON (how `shelflm serve` hands it to worker processes)."""
        return config_adapter(ServingConfig).dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str) -> ServingConfig:
        """The config `to_json` wrote (validated: bad values raise pydantic's ValueError)."""
        return config_adapter(cls).validate_json(text)
