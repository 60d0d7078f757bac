"""The last hour of the server's own metrics, for the dashboard's overview: every `interval`
seconds a sample of the API's request counts and latency histogram (the dashboard's own
routes, /metrics and the health checks left out), the events stored and the user cache's
hits; the series are the differences between samples. Each worker keeps its own."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from shelflm.serving.http.metrics import ServingMetrics

NOT_API = ("/dashboard", "/metrics", "/health")  # route prefixes that are not shop traffic


@dataclass(frozen=True)
class Sample:
    t: float
    requests: float
    buckets: tuple[tuple[float, float], ...]  # (upper bound s, cumulative count), +Inf last
    events: int
    hits: int
    misses: int


class MetricsHistory:
    """A ring of samples covering `seconds`; `sample()` adds one when `interval` has passed."""

    def __init__(self, metrics: ServingMetrics, counts: Callable[[], tuple[int, int, int]],
                 interval: float = 10.0, seconds: float = 3600.0) -> None:
        self.metrics, self.counts, self.interval = metrics, counts, interval
        self.samples: deque[Sample] = deque(maxlen=int(seconds // interval) + 1)
        self.seconds = seconds

    def sample(self, now: float | None = None) -> None:
        """Record the counters now, unless the last sample is younger than `interval`."""
        now = time.time() if now is None else now
        if self.samples and now - self.samples[-1].t < self.interval * 0.95:
            return
        events, hits, misses = self.counts()
        requests, buckets = _api_traffic(self.metrics)
        self.samples.append(Sample(now, requests, buckets, events, hits, misses))

    def report(self) -> dict:
        """The series between consecutive samples and the totals over the whole window."""
        s = list(self.samples)
        pairs = list(zip(s, s[1:], strict=False))
        series = {"interval_s": self.interval, "t": [b.t for _, b in pairs],
                  "rps": [], "p50_ms": [], "p99_ms": [], "events_per_min": [],
                  "cache_hit_rate": []}
        for a, b in pairs:
            for key, value in _rates(a, b).items():
                series[key].append(value)
        window = _rates(s[0], s[-1]) if len(s) > 1 else dict.fromkeys(
            ("rps", "p50_ms", "p99_ms", "events_per_min", "cache_hit_rate"))
        requests = s[-1].requests - s[0].requests if len(s) > 1 else 0
        return {"series": series, "window": {
            "seconds": round(s[-1].t - s[0].t, 1) if s else 0.0, "requests": int(requests),
            **window}}


def _api_traffic(metrics: ServingMetrics) -> tuple[float, tuple[tuple[float, float], ...]]:
    """(requests answered, the latency histogram's cumulative buckets) over the API routes."""
    requests, buckets = 0.0, {}
    for family in metrics.registry.collect():
        if family.name == "shelflm_requests":
            requests += sum(x.value for x in family.samples if x.name.endswith("_total")
                            and not x.labels["route"].startswith(NOT_API))
        elif family.name == "shelflm_request_seconds":
            for x in family.samples:
                if x.name.endswith("_bucket") and not x.labels["route"].startswith(NOT_API):
                    bound = float(x.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + x.value
    return requests, tuple(sorted(buckets.items()))


def _rates(a: Sample, b: Sample) -> dict:
    """Requests/s, latency quantiles, events/min and cache hit rate from `a` to `b`."""
    span = max(b.t - a.t, 1e-9)
    before = dict(a.buckets)
    counts = [(bound, n - before.get(bound, 0.0)) for bound, n in b.buckets]
    looked = (b.hits - a.hits) + (b.misses - a.misses)
    return {"rps": (b.requests - a.requests) / span,
            "p50_ms": _quantile(counts, 0.50), "p99_ms": _quantile(counts, 0.99),
            "events_per_min": 60.0 * (b.events - a.events) / span,
            "cache_hit_rate": (b.hits - a.hits) / looked if looked > 0 else None}


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile in ms of a cumulative histogram, interpolated inside its bucket as
    Prometheus' histogram_quantile does; the highest finite bound when it lies beyond."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return lower * 1000.0
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return (lower + (bound - lower) * share) * 1000.0
        lower, below = bound, count
    return lower * 1000.0


@asynccontextmanager
async def sampling(app):
    """The app's lifespan: sample `app.state.history` every interval while it serves (in a
    thread: a sample takes the engine's lock, which a request may hold)."""

    async def forever() -> None:
        history: MetricsHistory = app.state.history
        while True:
            await asyncio.to_thread(history.sample)
            await asyncio.sleep(history.interval)

    task = asyncio.create_task(forever())
    try:
        yield
    finally:
        task.cancel()
