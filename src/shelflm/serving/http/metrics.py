"""Prometheus metrics of the HTTP API: per-route request counts and latency, events ingested,
index size, model version, the second stage's outcomes and risk control's counts. Each app
has its own registry, so tests can build many apps."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Buckets around the 15 ms target, so the p99 can be read off the histogram.
_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25,
            0.5, 1.0, 2.5)


class ServingMetrics:
    """The metric objects and the ASGI middleware that fills them."""

    def __init__(self, index_size: Callable[[], float], model_version: Callable[[], str],
                 reload_generation: Callable[[], float] = lambda: 0,
                 rerank: Callable[[], dict | None] = lambda: None,
                 risk: Callable[[], dict | None] = lambda: None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_RerankCollector(rerank))
        self.registry.register(_RiskCollector(risk))
        self.requests = Counter("shelflm_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("shelflm_request_seconds", "HTTP request latency by route",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.events = Counter("shelflm_events_ingested", "events stored through POST /events",
                              registry=self.registry)
        Gauge("shelflm_index_size", "live vectors in the item index",
              registry=self.registry).set_function(index_size)
        Gauge("shelflm_reload_generation", "the reload this worker serves (each swap by "
              "POST /admin/reload, shelflm refresh or rollback adds one; 0: the start artifact)",
              registry=self.registry).set_function(reload_generation)
        self._model = Gauge("shelflm_model_info", "serving model version (value is always 1)",
                            ["version"], registry=self.registry)
        self._model_version = model_version

    def render(self) -> bytes:
        """The exposition text, with the model version as of now."""
        self._model.clear()
        self._model.labels(version=self._model_version()).set(1)
        return generate_latest(self.registry)

    def middleware(self, app):
        """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""
        metrics = self

        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            start, status = time.perf_counter(), 500

            async def send_status(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                route = scope.get("route")
                path = getattr(route, "path", "unmatched")  # the template, not the raw URL
                method = scope["method"]
                metrics.requests.labels(method, path, str(status)).inc()
                metrics.latency.labels(method, path).observe(time.perf_counter() - start)

        return wrapped


class _StatsCollector(Collector):
    """Metric families made from a stats dict read at each scrape; none when it is None."""

    def __init__(self, stats: Callable[[], dict | None]) -> None:
        self.stats = stats

    def collect(self):
        stats = self.stats()
        if stats:
            yield from self.families(stats)

    def families(self, stats: dict):
        raise NotImplementedError


class _RerankCollector(_StatsCollector):
    """The second stage's counters (serving/rerank.py Reranker.stats)."""

    def families(self, stats: dict):
        outcomes = CounterMetricFamily("shelflm_rerank", "second-stage rerankings by outcome "
                                       "(over_budget and failed answers keep retrieval's order)",
                                       labels=["outcome"])
        for outcome in ("reranked", "over_budget", "failed"):
            outcomes.add_metric([outcome], stats[outcome])
        yield outcomes
        yield CounterMetricFamily("shelflm_rerank_seconds", "time spent in the second stage",
                                  value=stats["seconds"])
        yield CounterMetricFamily("shelflm_rerank_pairs_cut", "pairs cut to the cross-"
                                  "encoder's token budget (still scored)",
                                  value=stats["pairs_cut"])


class _RiskCollector(_StatsCollector):
    """Risk control's counters (serving/risk_desk.py RiskDesk.stats)."""

    def families(self, stats: dict):
        yield CounterMetricFamily("shelflm_risk_scored", "users scored as their events "
                                  "arrived (this worker)", value=stats["scored"])
        yield CounterMetricFamily("shelflm_risk_flagged", "scorings at or above the "
                                  "threshold (this worker)", value=stats["flagged"])
        yield GaugeMetricFamily("shelflm_risk_quarantined_users", "users whose events are "
                                "quarantined now (every worker's)", value=stats["quarantined"])
