"""What the cross-encoder second stage adds to a recommendation's latency, in process.

An Engine over a retrieval artifact with an in-memory store holding `--users` ML-100K
shoppers' events answers `--requests` recommendations (k = 10, random users of those),
first with no second stage, then with [serving.rerank] top_n = each --n (ONNX, one thread,
`--budget-ms`; a large budget measures the full cost, the default shows how often the
default budget cuts it short). Medians and 99th percentiles per setting, and what the
second stage adds to them.

    .venv/bin/python benchmarks/rerank_latency.py runs/artifacts/ml100k-carry-base-s0 \\
        runs/artifacts/ml100k-ranker-s0 --n 20 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_ml100k, write_result  # noqa: E402
from shelflm.serving.config import RerankConfig, ServingConfig, StoreConfig  # noqa: E402
from shelflm.serving.engine import Engine  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402


def engine(retrieval: Path, ranker: Path | None, n: int, budget_ms: float, runtime: str,
           events: list[Event]) -> Engine:
    config = ServingConfig(store=StoreConfig(backend="memory"), warm_users=0,
                           rerank=RerankConfig(artifact=ranker, top_n=n, budget_ms=budget_ms,
                                               runtime=runtime))
    out = Engine.from_artifact(retrieval, config)
    out.ingest(events)
    return out


def timings(eng: Engine, users: list[str], requests: int, seed: int) -> np.ndarray:
    """Milliseconds per recommend() call over random users (a warm-up pass first)."""
    for user in users:
        eng.recommend(user, k=10)
    rng = np.random.default_rng(seed)
    out = []
    for user in rng.choice(users, requests):
        start = time.perf_counter()
        eng.recommend(str(user), k=10)
        out.append(1000 * (time.perf_counter() - start))
    return np.asarray(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("retrieval", type=Path)
    p.add_argument("ranker", type=Path)
    p.add_argument("--n", nargs="+", type=int, default=[20, 50])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--budget-ms", type=float, default=10_000.0)
    p.add_argument("--runtime", default="onnx-int8", choices=["onnx", "onnx-int8"])
    p.add_argument("--tag", default="rerank-latency")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data = load_ml100k()
    frame = data.interactions.events
    users = list(dict.fromkeys(frame["user_id"].astype(str)))[:args.users]
    frame = frame[frame["user_id"].astype(str).isin(users)]
    events = [Event(str(u), str(i), "rating", int(t)) for u, i, t in
              zip(frame["user_id"], frame["item_id"], frame["timestamp"], strict=True)]
    rows = {}
    for n in [0, *args.n]:
        eng = engine(args.retrieval, args.ranker if n else None, n or 1, args.budget_ms,
                     args.runtime, events)
        ms = timings(eng, users, args.requests, 0)
        rows[n] = {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
                   "rerank": eng.info()["rerank"]}
        eng.close()
        print(json.dumps({"n": n, **rows[n]}), flush=True)
    base = rows[0]
    print("\n| top N | p50 ms | p99 ms | added p50 | added p99 | outcomes |")
    print("|---|---|---|---|---|---|")
    for n, r in rows.items():
        outcomes = "-" if not r["rerank"] else ", ".join(
            f"{k} {r['rerank'][k]}" for k in ("reranked", "over_budget", "failed"))
        print(f"| {n or 'off'} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['p50_ms'] - base['p50_ms']:.1f} | {r['p99_ms'] - base['p99_ms']:.1f} | "
              f"{outcomes} |")
    write_result(args.tag, {"budget_ms": args.budget_ms, "rows": rows})


if __name__ == "__main__":
    main()
