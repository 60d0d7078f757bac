"""The optional second stage ([serving.rerank]): a cross-encoder reorders the first N of a
personal or session answer outside the engine's lock, and keeps retrieval's order (counted)
when it would pass its latency budget or fails."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shelflm.serving.config import RerankConfig, ServingConfig
from shelflm.serving.engine import Engine
from shelflm.serving.http.metrics import ServingMetrics
from shelflm.serving.store import Event
from shelflm.serving.store.memory_store import MemoryEventStore


@pytest.fixture(scope="module")
def ranker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained cross-encoder (its text head at zero: retrieval's prior alone)."""
    from shelflm.models.cross_artifact import build_cross_encoder, save_cross_encoder
    from shelflm.models.cross_config import CrossEncoderConfig

    model = build_cross_encoder(CrossEncoderConfig(max_length=64, tuning="head"))
    return save_cross_encoder(model, tmp_path_factory.mktemp("ranker") / "ce", "title",
                              onnx=True)


def _engine(model, ranker: Path | None, **rerank: object) -> Engine:
    config = ServingConfig(rerank=RerankConfig(artifact=ranker, **rerank))
    engine = Engine(model, MemoryEventStore(), config)
    engine.ingest([Event("u1", f"i{i}", "view", i) for i in (0, 1, 10)])
    return engine


class _Scorer:
    """Stands in for the ONNX scorer: logits = -prior (retrieval's order reversed), after
    `pause` seconds; `fail` raises instead."""

    def __init__(self, like: object, pause: float = 0.0, fail: bool = False) -> None:
        self.tokenize, self.pause, self.fail, self.calls = like.tokenize, pause, fail, 0

    def __call__(self, batch: dict, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("scorer broke")
        time.sleep(self.pause)
        return -prior, torch.zeros_like(prior)


def _ids(answer) -> list[str]:
    return [r.item_id for r in answer.items]


def test_an_untrained_ranker_keeps_retrieval_order(model, ranker: Path) -> None:
    plain = _engine(model, None).recommend("u1", k=4)
    engine = _engine(model, ranker, top_n=6)
    answer = engine.recommend("u1", k=4)
    assert _ids(answer) == _ids(plain) and len(answer.items) == 4
    assert all(0 < r.score < 1 for r in answer.items)  # like probabilities
    assert answer.items[0].because == plain.items[0].because
    assert engine.info()["rerank"]["reranked"] == 1
    assert _engine(model, None).info()["rerank"] is None


def test_the_ranker_reorders_the_first_n_only(model, ranker: Path) -> None:
    plain = _ids(_engine(model, None).recommend("u1", k=8))
    engine = _engine(model, ranker, top_n=5, chunk=2)
    engine.reranker.scorer = _Scorer(engine.reranker.scorer)
    assert _ids(engine.recommend("u1", k=8)) == plain[:5][::-1] + plain[5:]
    assert engine.reranker.scorer.calls == 3  # 5 pairs in chunks of 2
    session = engine.recommend_session([("i0", "view"), ("i1", "view"), ("i10", "view")], k=8)
    assert _ids(session) == plain[:5][::-1] + plain[5:]
    short = engine.recommend("u1", k=3)  # k below N: N are reranked, k come back
    assert _ids(short) == plain[:5][::-1][:3]


def test_over_budget_or_failing_keeps_retrieval_order_and_counts(model, ranker: Path) -> None:
    plain = _ids(_engine(model, None).recommend("u1", k=5))
    engine = _engine(model, ranker, top_n=5, chunk=1, budget_ms=30)
    engine.reranker.scorer = _Scorer(engine.reranker.scorer, pause=0.02)
    answer = engine.recommend("u1", k=5)
    assert _ids(answer) == plain and answer.revision is None  # not kept as the reranked one
    assert engine.reranker.scorer.calls < 5
    engine.reranker.scorer = _Scorer(engine.reranker.scorer, fail=True)
    assert _ids(engine.recommend("u1", k=5)) == plain
    stats = engine.info()["rerank"]
    assert (stats["reranked"], stats["over_budget"], stats["failed"]) == (0, 1, 1)
    text = ServingMetrics(lambda: 0, lambda: "v", rerank=engine.reranker.stats).render()
    assert b'shelflm_rerank_total{outcome="over_budget"} 1.0' in text
    assert b'shelflm_rerank_total{outcome="failed"} 1.0' in text


def test_users_without_history_get_popular_items_unranked(model, ranker: Path) -> None:
    engine = _engine(model, ranker, top_n=6)
    answer = engine.recommend("nobody", k=3)
    assert answer.source == "popular" and len(answer.items) == 3
    assert engine.info()["rerank"]["reranked"] == 0


def test_bad_rerank_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="top_n"):
        RerankConfig(top_n=0)
    with pytest.raises(ValueError, match="budget_ms"):
        replace(RerankConfig(), budget_ms=0)
