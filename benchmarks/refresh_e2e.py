"""The refresh loop end to end under load (issue 14): a server answers recommendations while
the second window of a dataset is posted as a stream of events, and `shelflm refresh`
(its own process) updates the live version and swaps it in, twice.

A model is trained on the first 80% of the dataset's events by time (models/v0001, its run
recorded) and served (`shelflm serve`, one worker) over a store holding those events.
Then, open loop: --rate GET recommendations/s of random users, and the later events posted
in time order at --event-rate/s; `shelflm refresh models --from-now --min-events N` looks
every 5 s. The run ends --tail s after the --swaps-th accepted swap (or at --limit s).
Reported: failed requests, GET p50/p99 before the first refresh begins (steady state) and
after, per 30 s, the model versions in the answers, and for 200 probe users asked at the
start and at the end, how many top-10 lists changed (in all, and of those whose own events
were not posted meanwhile: changed by the new versions alone).

    .venv/bin/python benchmarks/refresh_e2e.py --dataset ml-100k --out runs/results/refresh-e2e.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from common import CACHED_ENCODER, load_named  # noqa: E402
from serving import KEY, start_server  # noqa: E402
from shelflm.models.artifact import save_artifact  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402
from shelflm.serving.store.sqlite_store import SqliteEventStore  # noqa: E402
from shelflm.settings import ShelfConfig, artifact_record  # noqa: E402
from shelflm.training.compare import fit_and_evaluate  # noqa: E402
from shelflm.training.continual import dataset_exemplars  # noqa: E402
from shelflm.training.registry import build_model  # noqa: E402
from soak import Run, paced  # noqa: E402

LOADER = "shelflm.serving.runtime:load_artifact"


def first_version(name: str, models: Path, db: Path) -> tuple[list, list[str]]:
    """Train v0001 on the first 80% of events, fill the store with them; the later events
    (time order) and every user id."""
    full = load_named(name)
    events = full.interactions.events.sort_values("timestamp", kind="stable")
    cut = int(len(events) * 0.8)
    old = full.with_interactions(events.iloc[:cut])
    base = ShelfConfig()
    cfg = replace(base, encoder=CACHED_ENCODER,
                  training=replace(base.training, progress=False, time_budget_s=600))
    rec, split = build_model("shelflm", old, cfg), cfg.data.splitter().split(old)
    fit_and_evaluate(rec, split)
    save_artifact(rec, models / "v0001", old.catalog, rec.text_settings, artifact_record(cfg),
                  exemplars=dataset_exemplars(old, cfg))
    store = SqliteEventStore(db)
    store.append([Event(r.user_id, r.item_id, str(r.event), int(r.timestamp))
                  for r in events.iloc[:cut].itertuples()])
    store.close()
    later = [(r.user_id, r.item_id, str(r.event)) for r in events.iloc[cut:].itertuples()]
    return later, [str(u) for u in full.user_ids]


def decisions(models: Path) -> list[dict]:
    log = models / "refresh_log.jsonl"
    return [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []


def accepted(models: Path) -> list[dict]:
    return [r for r in decisions(models) if r.get("decision") == "accept"]


async def top10(client: httpx.AsyncClient, users: list[str]) -> dict[str, list[str]]:
    out = {}
    for user in users:
        r = await client.get(f"/users/{user}/recommendations", params={"k": 10})
        out[user] = [i["item_id"] for i in r.json()["items"]]
    return out


def server_slow(metrics: str) -> dict[str, int]:
    """From the server's own latency histogram (shelflm_request_seconds): how many GET
    recommendations it answered in all, and slower than 10 / 25 / 50 / 100 ms (time in the
    server, so a load generator's own stalls are not in it)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if (sample.name == "shelflm_request_seconds_bucket"
                    and sample.labels.get("method") == "GET"
                    and "recommendations" in sample.labels.get("route", "")):
                counts[float(sample.labels["le"])] = int(sample.value)
    total = counts.get(float("inf"), 0)
    return {"requests": total, **{f"over_{ms}ms": total - counts.get(ms / 1000, total)
                                  for ms in (10, 25, 50, 100)}}


async def drive(run: Run, url: str, later: list, users: list[str], models: Path,
                args: argparse.Namespace) -> dict:
    """The load, until the swaps happened (plus the tail) or the limit."""
    rng, stream = random.Random(0), iter(later)
    probes = rng.sample(users, 200)
    versions: list[tuple[float, str]] = []
    posted: set[str] = set()
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as c:
        before = await top10(c, probes)

        async def recommend() -> None:
            r = await run.call("recommend", c.get(f"/users/{rng.choice(users)}/recommendations",
                                                  params={"k": 10}))
            if r is not None:
                versions.append((run.now(), r.json()["model_version"]))

        async def post() -> None:
            event = next(stream, None)
            if event is not None:
                posted.add(event[0])
                body = {"user_id": event[0], "item_id": event[1], "event": event[2]}
                await run.call("events", c.post("/events", json={"events": [body]}))

        async def watch() -> None:
            done_at = None
            while run.now() < args.limit:
                await asyncio.sleep(2)
                if done_at is None and len(accepted(models)) >= args.swaps:
                    done_at = run.now()
                if done_at is not None and run.now() > done_at + args.tail:
                    break
            run.stop.set()

        await asyncio.gather(paced(run, args.rate, recommend),
                             paced(run, args.event_rate, post), watch())
        after = await top10(c, probes)
        metrics = (await c.get("/metrics")).text
    changed = [u for u in probes if before[u] != after[u]]
    quiet = [u for u in probes if u not in posted]  # no event of theirs: only models changed
    return {"server_side": server_slow(metrics), "probe_users": len(probes),
            "top10_changed": len(changed),
            "probes_without_new_events": len(quiet),
            "their_top10_changed": sum(u in changed for u in quiet),
            "versions_seen": sorted({v for _, v in versions}),
            "first_answer_of_each_version": {v: round(min(t for t, w in versions if w == v), 1)
                                             for v in {w for _, w in versions}}}


def latency(run: Run, start_refresh: float) -> dict:
    """GET p50/p99 before the first refresh began and after, and per 30 s."""
    gets = [(t, s, ok) for t, route, s, ok in run.rows if route == "recommend"]

    def stats(rows: list) -> dict:
        ms = np.array([s for _, s, ok in rows if ok]) * 1000
        return {"requests": len(rows), "failed": sum(not ok for _, _, ok in rows),
                "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
                "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None}

    windows = {}
    for k in range(int(max((t for t, _, _ in gets), default=0) // 30) + 1):
        windows[f"{30 * k}-{30 * k + 30}s"] = stats(
            [g for g in gets if 30 * k <= g[0] < 30 * (k + 1)])
    slowest = sorted(gets, key=lambda g: -g[1])[:10]
    return {"slowest": [(round(t, 1), round(1000 * s, 1)) for t, s, _ in slowest],
            "steady": stats([g for g in gets if g[0] < start_refresh]),
            "during_and_after": stats([g for g in gets if g[0] >= start_refresh]),
            "per_30s": windows,
            "failed_all_routes": sum(not ok for *_, ok in run.rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--rate", type=float, default=200, help="GET recommendations/s")
    ap.add_argument("--event-rate", type=float, default=100, help="events posted/s")
    ap.add_argument("--min-events", type=int, default=4000, help="refresh after this many")
    ap.add_argument("--swaps", type=int, default=2)
    ap.add_argument("--tail", type=float, default=30, help="seconds of load after the swaps")
    ap.add_argument("--limit", type=float, default=1800, help="seconds at most")
    ap.add_argument("--lr", type=float, default=None, help="the updates' learning rate "
                    "(shelflm refresh --lr; default: the live run's)")
    ap.add_argument("--pin", action="store_true", help="the server alone on CPU 0, the refresh "
                    "and this load generator on CPU 1 (a core of its own for the server)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shelflm-refresh-e2e-"))
    models, db = work / "models", work / "events.sqlite"
    later, users = first_version(args.dataset, models, db)
    cpus = os.sched_getaffinity(0)
    if args.pin:  # children inherit the affinity they are started with
        os.sched_setaffinity(0, {0})
    server = start_server(models / "v0001", db, LOADER, 1, {})
    if args.pin:
        os.sched_setaffinity(0, {1})
    run = Run(server.url, server.pid)
    refresh = subprocess.Popen(
        [sys.executable, "-m", "shelflm.cli", "refresh", str(models), "--artifact", "v0001",
         "--events-db", str(db), "--from-now", "--min-events", str(args.min_events),
         "--every", "5", "--url", server.url, "--api-key", KEY,
         *(["--lr", str(args.lr)] if args.lr else [])],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL, stderr=open(work / "refresh.log", "w"))  # noqa: SIM115
    try:
        effect = asyncio.run(drive(run, server.url, later, users, models, args))
    finally:
        refresh.terminate()
        server.terminate()
        server.wait(30)
        os.sched_setaffinity(0, cpus)
    start_refresh = args.min_events / args.event_rate  # when the first window was complete
    result = {"args": vars(args) | {"out": str(args.out)}, "refresh": decisions(models),
              "latency": latency(run, start_refresh), "effect": effect,
              "errors": run.errors[:10], "work": str(work)}
    print(json.dumps(result, indent=1, default=str))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
