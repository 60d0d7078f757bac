"""Configs of the optional stages around retrieval: the cross-encoder second stage and risk
control (torch-free; part of ServingConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shelflm.serving.config_checks import _STRICT, _in_range, _one_of


@dataclass
class RerankConfig:
    """The optional second stage: a cross-encoder (`shelflm train --model cross-encoder`)
    reorders the first `top_n` of a personal or session answer within a latency budget."""

    __pydantic_config__ = _STRICT

    artifact: Path | None = field(default=None, metadata={
        "help": "the cross-encoder's artifact directory (None = no second stage)"})
    top_n: int = field(default=20, metadata={"help": "how many retrieved items it reorders"})
    budget_ms: float = field(default=250.0, metadata={
        "help": "scoring stops before a chunk would end past this; the answer is then "
                "retrieval's order, counted as over_budget in GET /metrics"})
    chunk: int = field(default=10, metadata={"help": "pairs scored per ONNX call"})
    runtime: Literal["onnx", "onnx-int8"] = field(default="onnx-int8", metadata={
        "help": "the artifact's ONNX graph or its int8 copy (about 3x faster)"})
    threads: int = field(default=1, metadata={"help": "threads of its ONNX session"})

    def __post_init__(self) -> None:
        self.artifact = None if self.artifact is None else Path(self.artifact)
        for name, high in (("top_n", 500), ("chunk", 500), ("threads", 64)):
            _in_range(self, name, 1, high)
        _in_range(self, "budget_ms", 0, low_open=True)
        _one_of(self, "runtime", ("onnx", "onnx-int8"))


@dataclass
class RiskGuardConfig:
    """Risk control while serving: users whose events arrive are scored by the artifact's
    risk model (`shelflm risk fit`); those at or above the threshold are quarantined."""

    __pydantic_config__ = _STRICT

    enabled: bool = field(default=True, metadata={
        "help": "score users as their events arrive, when a risk model is found"})
    model: Path | None = field(default=None, metadata={
        "help": "the risk model's folder (None = the served artifact's risk/ folder)"})
    threshold: float | None = field(default=None, metadata={
        "help": "flag at or above this risk (None = the risk model's own [risk] threshold)"})
    every: int = field(default=5, metadata={
        "help": "score a user at their first events seen by a worker, then once this many "
                "more have come (1: at every batch; GET /users/{id}/risk always scores now)"})
    quarantine: bool = field(default=True, metadata={
        "help": "quarantine flagged users: their events are kept but stop counting for "
                "other shoppers (popularity) and for training, until released (False: "
                "flag and count only)"})

    def __post_init__(self) -> None:
        self.model = None if self.model is None else Path(self.model)
        _in_range(self, "every", 1)
        if self.threshold is not None:
            _in_range(self, "threshold", 0.0, 1.0, low_open=True)


@dataclass
class AssistConfig:
    """The shopping assistant (POST /assist): how a conversation's turns, exact terms and the
    shopper's own items are weighed (serving/assist_scoring.py), and how long it is kept."""

    __pydantic_config__ = _STRICT

    lexical_weight: float = field(default=0.2, metadata={
        "help": "weight of the BM25 match (scaled to [0, 1] per turn) added to the cosine"})
    decay: float = field(default=0.5, metadata={
        "help": "each older turn's weight is this times the next one's (0: the last wish "
                "alone; 1: every wish alike)"})
    context_weight: float = field(default=0.2, metadata={
        "help": "share of the score from the shopper's recent items (user_id or events) "
                "or the item asked about"})
    context_items: int = field(default=10, metadata={
        "help": "how many of the shopper's most recent items make their context"})
    ttl_s: float = field(default=1800.0, metadata={
        "help": "a conversation idle this long is forgotten"})
    max_turns: int = field(default=10, metadata={"help": "turns kept per conversation"})
    max_conversations: int = field(default=100_000, metadata={
        "help": "conversations kept in memory (memory store only; least recent dropped)"})
    max_message_chars: int = field(default=2000, metadata={
        "help": "a longer message is refused (422)"})

    def __post_init__(self) -> None:
        for name in ("lexical_weight", "decay", "context_weight"):
            _in_range(self, name, 0.0, 1.0 if name != "lexical_weight" else 10.0)
        for name in ("context_items", "max_turns", "max_conversations", "max_message_chars"):
            _in_range(self, name, 1)
        _in_range(self, "ttl_s", 0, low_open=True)
