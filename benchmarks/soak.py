"""Soak benchmark: mixed traffic for minutes, server memory and per-minute latency, then a
SIGKILL while events are posted, and a count of the acknowledged events after the restart.

    .venv/bin/python benchmarks/soak.py                       # 10 minutes, the issue's protocol
    .venv/bin/python benchmarks/soak.py --duration 60 --kill-events 2000   # a quick dev run
    .venv/bin/python benchmarks/soak.py --artifact /work/bench/beauty-artifact --out soak.json

The server is started as benchmarks/serving.py does (SQLite store holding every Beauty
user's history, an API key, a hashing artifact of the Beauty items unless --artifact).
Traffic is open-loop at --rate requests/s: 70% GET recommendations of a random Beauty
user, 20% POST /events (one view of a random user), 5% PUT /items (a pool of --item-pool
soak items, new on the first pass and changed after), 5% POST /search (words of a random
title, half of them for a user); POST /admin/reload of the served artifact every
--reload-every s. Latency is measured per request, client side, from send to answer.
Server RSS (the process tree, /proc VmRSS) is sampled every 5 s; after --warmup s it must
stay within 10% of its value then. Before the clock starts the server is brought to its
steady state (unless --no-prefill): every user's recommendations asked once, which fills the
user and answer caches up to their bounds, and one reload, so the base already holds what a
server that has run a while holds; what that costs is reported apart ("prefill").

Kill phase: once the soak ends, --posters clients post one event each per request, every
one for a new user (kill-N), as fast as the server takes them while the mixed traffic goes
on; after --kill-events acknowledged (200) events the server is SIGKILLed, restarted on the
same store, and every acknowledged user is looked up in the store file (sqlite3) and a
sample of them through the API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
# benchmarks/serving.py (server start, store) and the hashing double in tests/.
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from hashing_model import HashingModel, save_hashing_artifact  # noqa: E402
from serving import HASHING_LOADER, KEY, TESTS, build_store, load_beauty, start_server  # noqa: E402
from shelflm.data.schema import Catalog  # noqa: E402

MIX = {"recommend": 0.70, "events": 0.20, "items": 0.05, "search": 0.05}
SAMPLE_EVERY = 5.0  # seconds between RSS samples


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of the process tree in MiB (VmRSS summed; shared pages count twice)."""
    total = 0
    for p in tree_pids(pid):
        try:
            line = next(x for x in Path(f"/proc/{p}/status").read_text().splitlines()
                        if x.startswith("VmRSS:"))
            total += int(line.split()[1])
        except (OSError, StopIteration):
            continue
    return round(total / 1024, 1)


class Run:
    """What a run records: one row per request and the RSS samples, times from its start."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid, self.t0 = url, pid, time.perf_counter()
        self.rows: list[tuple[float, str, float, bool]] = []  # start, route, seconds, ok
        self.errors: list[str] = []  # the first few, for the report
        self.rss: list[tuple[float, float, float]] = []  # time, MiB, machine load (1 min)
        self.stop = asyncio.Event()
        self.soak_end = float("inf")
        self.killed_at: float | None = None

    def now(self) -> float:
        return time.perf_counter() - self.t0

    async def call(self, route: str, request) -> httpx.Response | None:
        """Await one request, record its latency and whether it answered 2xx."""
        start = self.now()
        try:
            r = await request
            ok, why = r.is_success, f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            r, ok, why = None, False, f"{type(exc).__name__}: {exc}"
        self.rows.append((start, route, self.now() - start, ok))
        if not ok and len(self.errors) < 20 and (self.killed_at is None):
            self.errors.append(f"t={start:.1f}s {route}: {why}")
        return r if ok else None


async def paced(run: Run, rate: float, send) -> None:
    """Open loop: start send() every 1/rate s until run.stop, without waiting for answers."""
    loop, tasks, n = asyncio.get_running_loop(), set(), 0
    start = loop.time()
    while not run.stop.is_set():
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
        task = asyncio.create_task(send())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks, return_exceptions=True)


def senders(run: Run, client: httpx.AsyncClient, users: list[str], items, args) -> dict:
    """One coroutine factory per route of the mix, drawing users, items and titles at random."""
    rng, counter = random.Random(0), iter(range(1 << 62))
    ids, titles = items["item_id"].tolist(), [t for t in items["title"] if t.strip()]

    def recommend():
        return run.call("recommend", client.get(f"/users/{rng.choice(users)}/recommendations",
                                                params={"k": 10}))

    def events():
        event = {"user_id": rng.choice(users), "item_id": rng.choice(ids), "event": "view"}
        return run.call("events", client.post("/events", json={"events": [event]}))

    def upsert():
        n = next(counter)  # pass 1 adds soak items, later passes change them
        item = {"item_id": f"soak-{n % args.item_pool}", "title": rng.choice(titles)[:900],
                "price": round(rng.uniform(1, 100), 2), "in_stock": n % 7 != 0}
        return run.call("items", client.put("/items", json={"items": [item]}))

    def search():
        words = rng.choice(titles).split()[:6]
        body = {"query": " ".join(words), "k": 10}
        if rng.random() < 0.5:
            body["user_id"] = rng.choice(users)
        return run.call("search", client.post("/search", json=body))

    return {"recommend": recommend, "events": events, "items": upsert, "search": search}


async def reloads(run: Run, client: httpx.AsyncClient, artifact: Path, every: float,
                  until: float) -> None:
    """POST /admin/reload of the served artifact every `every` s before `until`."""
    k = 1
    while k * every < until and not run.stop.is_set():
        await asyncio.sleep(max(0.0, k * every - run.now()))
        await run.call("reload", client.post("/admin/reload",
                                             json={"artifact_dir": str(artifact)}, timeout=300))
        k += 1


async def sample_rss(run: Run) -> None:
    while not run.stop.is_set():
        run.rss.append((round(run.now(), 1), rss_mb(run.pid), os.getloadavg()[0]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.stop.wait(), SAMPLE_EVERY)


async def prefill(url: str, pid: int, users: list[str], artifact: Path) -> dict:
    """Every user's recommendations once (32 at a time), then one reload: the caches at their
    bounds and the allocator past its first swap. Returns the RSS before, after and the time."""
    start, before = time.perf_counter(), rss_mb(pid)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, timeout=60,
                                 limits=limits) as client:
        todo = iter(users)

        async def asker() -> None:
            for user in todo:
                (await client.get(f"/users/{user}/recommendations", params={"k": 10})
                 ).raise_for_status()

        await asyncio.gather(*(asker() for _ in range(32)))
        filled = rss_mb(pid)
        (await client.post("/admin/reload", json={"artifact_dir": str(artifact)},
                           timeout=300)).raise_for_status()
    return {"users": len(users), "rss_before_mb": before, "rss_filled_mb": filled,
            "rss_after_reload_mb": rss_mb(pid), "seconds": round(time.perf_counter() - start)}


def kill_tree(pid: int) -> None:
    for p in tree_pids(pid):  # all at once: no worker outlives its parent
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


async def kill_phase(run: Run, client: httpx.AsyncClient, target: int, posters: int,
                     item: str, limit: float) -> list[str]:
    """Post one event per request, each for a new user, until `target` are acknowledged
    (or `limit` s have passed); then SIGKILL the server. Returns the acknowledged users."""
    acked: list[str] = []
    counter, deadline = iter(range(1 << 62)), run.now() + limit

    async def poster() -> None:
        while run.killed_at is None:
            user = f"kill-{next(counter)}"
            event = {"user_id": user, "item_id": item, "event": "purchase"}
            if await run.call("kill_events", client.post("/events", json={"events": [event]})):
                acked.append(user)  # a 200 read after the kill was still sent before it
            if (len(acked) >= target or run.now() > deadline) and run.killed_at is None:
                kill_tree(run.pid)
                run.killed_at = run.now()

    await asyncio.gather(*(poster() for _ in range(posters)))
    return acked


async def traffic(run: Run, users: list[str], items, artifact: Path, args) -> list[str]:
    """The soak for args.duration s, then the kill phase; returns the acknowledged users."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=run.url, headers={"X-API-Key": KEY}, timeout=30,
                                 limits=limits) as client:
        send = senders(run, client, users, items, args)
        tasks = [asyncio.create_task(paced(run, args.rate * share, send[route]))
                 for route, share in MIX.items()]
        tasks += [asyncio.create_task(sample_rss(run)),
                  asyncio.create_task(reloads(run, client, artifact, args.reload_every,
                                              args.duration))]
        await asyncio.sleep(max(0.0, args.duration - run.now()))
        run.soak_end = args.duration
        acked = await kill_phase(run, client, args.kill_events, args.posters,
                                 str(items["item_id"].iloc[0]), args.kill_limit)
        run.stop.set()
        await asyncio.gather(*tasks)
    return acked


def per_minute(run: Run) -> list[dict]:
    """p50/p99 (ms), requests and errors per route per minute of the soak (kill phase apart)."""
    buckets: dict[tuple[int, str], list] = defaultdict(list)
    for start, route, seconds, ok in run.rows:
        if start < run.soak_end:
            buckets[int(start // 60), route].append((seconds, ok))
    out = []
    for minute in sorted({m for m, _ in buckets}):
        row: dict = {"minute": minute + 1}
        for route in [*MIX, "reload"]:
            got = buckets.get((minute, route))
            if got:
                ms = np.array([s for s, _ in got]) * 1e3
                row[route] = {"n": len(got), "p50_ms": round(float(np.median(ms)), 1),
                              "p99_ms": round(float(np.percentile(ms, 99)), 1),
                              "errors": sum(not ok for _, ok in got)}
        got = [(m, load) for t, m, load in run.rss if minute * 60 <= t < (minute + 1) * 60]
        row["rss_mb_max"] = max(m for m, _ in got) if got else None
        row["load1_max"] = max(load for _, load in got) if got else None  # a shared machine?
        out.append(row)
    return out


def memory(run: Run, warmup: float) -> dict:
    soak = [(t, m) for t, m, _ in run.rss if t <= run.soak_end]
    after = [m for t, m in soak if t >= warmup] or [soak[-1][1]]
    base, top = after[0], max(after)
    return {"start_mb": soak[0][1], "after_warmup_mb": base, "end_mb": soak[-1][1],
            "max_mb": max(m for _, m in soak), "max_after_warmup_mb": top,
            "growth_after_warmup": round(top / base - 1, 4), "flat_within_10pct": top <= 1.1 * base,
            "samples": soak}


def check_store(db: Path, acked: list[str]) -> dict:
    """Which acknowledged users' events are in the store file."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    found = {u for (u,) in con.execute("SELECT user_id FROM events WHERE user_id LIKE 'kill-%'")}
    con.close()
    lost = [u for u in acked if u not in found]
    return {"acknowledged": len(acked), "lost": len(lost), "lost_sample": lost[:10],
            "stored_not_acknowledged": len(found - set(acked))}


def check_api(url: str, acked: list[str], n: int = 200) -> dict:
    """A sample of acknowledged users asked for recommendations from the restarted server:
    their one purchase must make the answer personal."""
    sample = random.Random(1).sample(acked, min(n, len(acked)))
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=30) as c:
        personal = sum(c.get(f"/users/{u}/recommendations", params={"k": 5}).json().get(
            "source") == "personal" for u in sample)
    return {"asked": len(sample), "personal": personal}


def summary(run: Run, acked: list[str]) -> dict:
    soak = [r for r in run.rows if r[0] < run.soak_end]
    before_kill = [r for r in run.rows if run.soak_end <= r[0] and r[0] + r[2] < run.killed_at]
    return {"soak_requests": len(soak), "soak_errors": sum(not ok for *_, ok in soak),
            "kill_phase_requests_before_kill": len(before_kill),
            "kill_phase_errors_before_kill": sum(not ok for *_, ok in before_kill),
            "kill_at_s": round(run.killed_at - run.soak_end, 1),
            "acknowledged_per_s": round(len(acked) / (run.killed_at - run.soak_end), 1),
            "first_errors": run.errors}


def print_table(result: dict) -> None:
    routes = [*MIX, "reload"]
    print("\nmin  rss_MB  load  " + "  ".join(f"{r:>16}" for r in routes)
          + "   (p50/p99 ms, errors)")
    for row in result["per_minute"]:
        cells = [f"{row[r]['p50_ms']:>6}/{row[r]['p99_ms']:<7} {row[r]['errors']}" if r in row
                 else " " * 16 for r in routes]
        print(f"{row['minute']:>3}  {row['rss_mb_max']!s:>6}  {row['load1_max'] or 0:4.1f}  "
              + "  ".join(cells))
    m, k, s = result["memory"], result["kill"], result["summary"]
    if "prefill" in result:
        f = result["prefill"]
        print(f"prefill ({f['users']} users, then a reload; {f['seconds']} s): RSS MB "
              f"{f['rss_before_mb']} -> {f['rss_filled_mb']} -> {f['rss_after_reload_mb']}")
    print(f"RSS MB: start {m['start_mb']}, after warm-up {m['after_warmup_mb']}, end "
          f"{m['end_mb']}, max {m['max_mb']} (after warm-up +{m['growth_after_warmup']:.1%}, "
          f"flat within 10%: {m['flat_within_10pct']})")
    print(f"soak: {s['soak_requests']} requests, {s['soak_errors']} errors; kill phase: "
          f"{k['acknowledged']} events acknowledged, {k['lost']} lost, restart "
          f"{result['restart_seconds']} s, API sample personal {result['api']['personal']}/"
          f"{result['api']['asked']}")


def prepare(args, work: Path) -> tuple[Path, str, list[str], object]:
    """The artifact to serve, its loader, the Beauty users and items; fills the store."""
    items, sequences = load_beauty()
    artifact, loader = args.artifact, args.loader or "shelflm.serving.runtime:load_artifact"
    if artifact is None:
        artifact, loader = work / "artifact", HASHING_LOADER
        save_hashing_artifact(HashingModel(Catalog.from_frame(items), dim=64), artifact)
    build_store(work / "events.sqlite", sequences, set(items["item_id"]))
    return artifact.resolve(), loader, list(sequences), items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600, help="soak seconds")
    ap.add_argument("--warmup", type=float, default=60, help="seconds before RSS is the base")
    ap.add_argument("--rate", type=float, default=200, help="mixed requests/s in all")
    ap.add_argument("--reload-every", type=float, default=120, help="seconds between reloads")
    ap.add_argument("--item-pool", type=int, default=1000, help="ids PUT /items cycles over")
    ap.add_argument("--kill-events", type=int, default=10_000, help="acknowledged events "
                    "before the SIGKILL")
    ap.add_argument("--posters", type=int, default=8, help="concurrent event posters then")
    ap.add_argument("--kill-limit", type=float, default=900, help="SIGKILL after this many "
                    "seconds of the kill phase even if fewer events were acknowledged")
    ap.add_argument("--artifact", type=Path, help="artifact dir (default: a hashing artifact)")
    ap.add_argument("--loader", default=None, help="'module:function' for --artifact")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="a top-level ServingConfig field for the server, e.g. "
                         "response_cache_mb=0 (repeatable)")
    ap.add_argument("--no-prefill", dest="prefill", action="store_false",
                    help="start the clock on a fresh server (caches empty, no reload yet)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    settings = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The server subprocess imports the hashing double's loader from tests/ too.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    work = Path(tempfile.mkdtemp(prefix="shelflm-soak-"))
    try:
        artifact, loader, users, items = prepare(args, work)
        result: dict = {"args": {k: str(v) for k, v in vars(args).items()},
                        "artifact": str(artifact), "loader": loader}
        server = start_server(artifact, work / "events.sqlite", loader, 1, settings)
        if args.prefill:
            result["prefill"] = asyncio.run(prefill(server.url, server.pid, users, artifact))
        run = Run(server.url, server.pid)
        acked = asyncio.run(traffic(run, users, items, artifact, args))
        server.wait(30)
        t = time.perf_counter()
        server = start_server(artifact, work / "events.sqlite", loader, 1, settings)
        result["restart_seconds"] = round(time.perf_counter() - t, 1)
        result["kill"] = check_store(work / "events.sqlite", acked)
        result["api"] = check_api(server.url, acked)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        result.update(summary=summary(run, acked), memory=memory(run, args.warmup),
                      per_minute=per_minute(run))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


if __name__ == "__main__":
    main()
