"""Serving benchmark on Amazon Beauty: HTTP latency under load (wrk), freshness, ingestion,
single-item upsert, and exact vs HNSW vector search.

    .venv/bin/python benchmarks/serving.py --duration 60            # the issue's protocol
    .venv/bin/python benchmarks/serving.py --duration 5 --rates 250  # a quick dev run
    .venv/bin/python benchmarks/serving.py --artifact runs/artifacts/beauty --workers 2
    .venv/bin/python benchmarks/serving.py --artifact runs/artifacts/beauty-risk \
        --risk '{"quarantine": false}'    # risk scoring on (an artifact with a risk/ folder)

--artifact DIR serves a trained artifact (load_artifact; ONNX text encoder and user tower
by default, see --text-encoder/--user-tower); without it an artifact of the tests' hashing
double (tests/hashing_model.py: 64-d text-hash vectors, no training) is built for the
12,101 Beauty items. Every Beauty user's history is loaded as purchase events. Load comes
from wrk (apt) over loopback, paced with a Lua delay per connection; its Lua script draws
a random Beauty user per request. After each level the workers' user-cache counters are
read from GET /model (a miss runs the user tower; a hit reuses the user's vector and
answer until their next event). A last level runs the top rate again while `--flows`
shoppers per second post a view and at once ask for recommendations, timing both calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "amazon-beauty"
TESTS = ROOT / "tests"  # the hashing test double lives there (tests/hashing_model.py)
# This checkout's code, and the hashing double from tests/ (not part of the package).
sys.path[:0] = [str(ROOT / "src"), str(TESTS)]

from hashing_model import HashingModel, save_hashing_artifact  # noqa: E402
from shelflm.data.schema import Catalog  # noqa: E402
from shelflm.serving.config import IndexConfig  # noqa: E402
from shelflm.serving.engine import load_model  # noqa: E402
from shelflm.serving.index.faiss_index import ExactFaissIndex, HnswFaissIndex  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402
from shelflm.serving.store.sqlite_store import SqliteEventStore  # noqa: E402

HASHING_LOADER = "hashing_model:load_hashing_artifact"
KEY = "bench-key"
# Pacing: every request claims the next slot of a fixed schedule (interval ms apart), and
# waits for it, so the offered rate holds while the server keeps up (LuaJIT ffi clock).
LUA = """
local ffi = require("ffi")
ffi.cdef[[typedef struct { long s; long us; } tv_t; int gettimeofday(tv_t *tv, void *tz);]]
local tv = ffi.new("tv_t")
local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.s) * 1e3 + tonumber(tv.us) / 1e3
end
local users = {}
for line in io.lines("%s") do users[#users + 1] = line end
math.randomseed(%d)
request = function()
  local u = users[math.random(#users)]
  return wrk.format("GET", "/users/" .. u .. "/recommendations?k=10", {["X-API-Key"]="%s"})
end
local interval, slot = %f, nil
if interval > 0 then
  delay = function()
    local t = now()
    slot = math.max((slot or t) + interval, t - 50 * interval)  -- bounded catch-up burst
    return math.max(0, math.floor(slot - t + 0.5))
  end
end
"""


def load_beauty() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Beauty's items (item_id, title) and each user's items in time order."""
    if not DATA.is_dir():
        sys.exit(f"Amazon Beauty not found at {DATA}")
    items = pd.read_csv(DATA / "items.csv", dtype=str, keep_default_na=False)
    sequences = {}
    for line in (DATA / "sequences.txt").read_text().splitlines():
        user, *seq = line.split()
        sequences[user] = seq
    return items, sequences


def build_store(db: Path, sequences: dict[str, list[str]], known: set[str]) -> int:
    """Load every user's history as purchase events (Beauty's reviews imply a purchase)."""

    store = SqliteEventStore(db)
    batch, total = [], 0
    for user, seq in sequences.items():
        batch += [Event(user, it, "purchase", t) for t, it in enumerate(seq) if it in known]
        if len(batch) >= 20_000:
            store.append(batch)
            total, batch = total + len(batch), []
    store.append(batch)
    store.close()
    return total + len(batch)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifact: Path, db: Path, loader: str, workers: int,
                 settings: dict) -> subprocess.Popen:

    port = free_port()
    config = db.with_name("serve.toml")  # top-level ServingConfig fields, as `serve` reads them
    tables = {k: v for k, v in settings.items() if isinstance(v, dict)}  # [risk_control]
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()
                              if k not in tables)
                      + "".join(f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                         for k, v in t.items())
                                for name, t in tables.items()))
    cmd = [sys.executable, "-m", "shelflm.commands.serve", str(artifact), "--port", str(port),
           "--events-db", str(db), "--loader", loader, "--api-key", KEY,
           "--workers", str(workers), "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    proc.url = f"http://127.0.0.1:{port}"
    for _ in range(1500):  # warm_users can take a minute or two per worker
        try:
            if httpx.get(proc.url + "/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def wrk(url: str, users_file: Path, rate: float | None, duration: float, conns: int,
        pid: int) -> dict:
    """Run wrk; rate None = as fast as it goes. Returns rate, p50, p99 (ms), errors and the
    server's CPU milliseconds per request (less sensitive to a shared machine than latency)."""
    cpu = cpu_seconds(pid)
    interval = 1000.0 / rate if rate else 0.0
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(LUA % (users_file, random.randrange(1 << 30), KEY, interval))
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{round(duration)}s", "--latency", "-s",
                          f.name, url], capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        return float(m.group(1)) * scale[m.group(2)] if m else float("nan")

    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    cpu_ms = (cpu_seconds(pid) - cpu) * 1e3 / max(total, 1)
    return {"target": rate, "achieved": round(total / duration, 1), "requests": total,
            "p50_ms": ms("50%"), "p99_ms": ms("99%"), "errors": errors,
            "server_cpu_ms_per_request": round(cpu_ms, 3)}


def _ms(seconds: list[float], p: float) -> float:
    """The p-th percentile of durations in seconds, as milliseconds (2 decimals)."""
    return round(float(np.percentile(np.array(seconds) * 1e3, p)), 2)


def shopper_flows(url: str, users: list[str], items: list[str], rate: float,
                  duration: float) -> dict:
    """Shoppers acting while wrk runs: every 1/rate s a random user posts a view and at once
    asks for recommendations (the page view that follows). Returns both calls' p50/p99."""

    rng = random.Random(1)
    post, get, errors = [], [], 0
    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=10, headers={"X-API-Key": KEY}) as c:
        for n in range(int(rate * duration)):
            time.sleep(max(0.0, start + n / rate - time.perf_counter()))
            user, item = rng.choice(users), rng.choice(items)
            t = time.perf_counter()
            r = c.post("/events", json={"events": [{"user_id": user, "item_id": item}]})
            post.append(time.perf_counter() - t)
            t = time.perf_counter()
            rec = c.get(f"/users/{user}/recommendations", params={"k": 10})
            get.append(time.perf_counter() - t)
            errors += r.status_code != 200 or rec.status_code != 200
    return {"flows": len(post), "post_p50_ms": _ms(post, 50), "post_p99_ms": _ms(post, 99),
            "get_after_event_p50_ms": _ms(get, 50), "get_after_event_p99_ms": _ms(get, 99),
            "errors": errors}


def worker_stats(url: str, tries: int = 40) -> dict:
    """Encoder, user tower and user-cache counters summed over the workers that answered
    `tries` fresh connections (each worker has its own cache)."""

    seen: dict[int, dict] = {}
    for _ in range(tries):
        info = httpx.get(url + "/model", headers={"X-API-Key": KEY}, timeout=10).json()
        seen[info.get("worker_pid", 0)] = info
    caches = [i.get("user_cache", {}) for i in seen.values()]
    first = next(iter(seen.values()))
    return {"workers_seen": len(seen), "text_encoder": first.get("text_encoder"),
            "user_tower": first.get("user_tower"),
            "cache_hits": sum(c.get("hits", 0) for c in caches),
            "cache_misses": sum(c.get("misses", 0) for c in caches)}


def warm_users(url: str, users: list[str], threads: int = 8) -> float:
    """One request per user (the steady state of a shop whose shoppers come back): each
    worker that answers caches that user. Returns the seconds it took."""


    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": KEY}) as client, \
            ThreadPoolExecutor(threads) as pool:
        for r in pool.map(lambda u: client.get(f"/users/{u}/recommendations?k=10"), users):
            r.raise_for_status()
    return round(time.perf_counter() - started, 1)


def timed_calls(url: str, users: list[str], items: pd.DataFrame, n: int) -> dict:
    """Freshness + ingestion, and single-item upsert + immediate similar/search."""

    h = {"X-API-Key": KEY}
    post, fresh, upsert, in_similar, in_search = [], 0, [], 0, 0
    rng = random.Random(0)
    titled = items[items["title"].str.strip() != ""]
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(n):
            item = items["item_id"].iloc[rng.randrange(len(items))]
            user = f"fresh-{i}"  # a new shopper: the posted view is the whole history
            t = time.perf_counter()
            r = c.post("/events", json={"events": [{"user_id": user, "item_id": item}]}, headers=h)
            post.append(time.perf_counter() - t)
            rec = c.get(f"/users/{user}/recommendations", params={"k": 10}, headers=h).json()
            fresh += rec["source"] == "personal" and all(
                x["because"]["item_id"] == item for x in rec["items"])
        for i in range(n):
            base = titled.iloc[rng.randrange(len(titled))]  # an empty title has no neighbours
            # A re-listing of an existing product: its nearest neighbour is known, so the
            # probe measures freshness, not how well the model matches paraphrases.
            new = {"item_id": f"new-{i}", "title": base["title"], "price": 9.99}
            t = time.perf_counter()
            r = c.put("/items", json={"items": [new]}, headers=h)
            upsert.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            sim = c.get(f"/items/{base['item_id']}/similar", params={"k": 10}, headers=h).json()
            query = new["title"][:500]  # the API caps queries at 512 characters
            hit = c.post("/search", json={"query": query, "k": 10}, headers=h).json()
            # Search ranks by text, so an identical title must come back; similar ranks by
            # the trained vectors, where a text-only new item may sit away from the original.
            in_similar += any(x["item_id"] == new["item_id"] for x in sim["items"])
            in_search += any(x["item_id"] == new["item_id"] for x in hit["items"])
    return {"ingest_p50_ms": _ms(post, 50), "ingest_p99_ms": _ms(post, 99),
            "next_request_reflects_event": f"{fresh}/{n}",
            "upsert_p50_ms": _ms(upsert, 50), "upsert_p99_ms": _ms(upsert, 99),
            "new_item_in_search_at_once": f"{in_search}/{n}",
            "new_item_in_similar_of_its_original_at_once": f"{in_similar}/{n}"}


def vector_search(artifact: Path, loader: str, queries: int) -> list[dict]:
    """Exact vs HNSW top-10 on the artifact's item vectors (their scoring columns, as the
    engine indexes them), queried by item vectors."""
    model = load_model(loader, artifact)
    vectors = np.ascontiguousarray(model.item_vectors[:, :getattr(model, "score_dim",
                                                                  model.dim)])
    keys = np.arange(len(vectors))
    rng = np.random.default_rng(0)
    qs = vectors[rng.choice(len(vectors), queries, replace=False)] + \
        0.1 * rng.standard_normal((queries, vectors.shape[1])).astype(np.float32)
    rows, truth = [], None
    for name, index in [("exact (IndexFlatIP)", ExactFaissIndex(vectors.shape[1])),
                        ("HNSW M=32 ef=128", HnswFaissIndex(vectors.shape[1],
                                                             IndexConfig(kind="hnsw")))]:
        t = time.perf_counter()
        index.upsert(keys, vectors)
        build = time.perf_counter() - t
        lat, found = [], []
        for q in qs:
            t = time.perf_counter()
            got, _ = index.search(q, 10)
            lat.append(time.perf_counter() - t)
            found.append(got)
        if truth is None:
            truth = found
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
        rows.append({"index": name, "build_s": round(build, 2),
                     "p50_us": round(float(np.median(lat)) * 1e6, 1),
                     "p99_us": round(float(np.percentile(lat, 99)) * 1e6, 1),
                     "recall@10": round(float(recall), 4)})
    return rows


def open_dashboard(url: str) -> subprocess.Popen:
    """benchmarks/dashboard.py watch: a headless Chromium with the overview open (it polls
    the server every 5 s), started once the page has its first data."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "dashboard.py"), "watch",
                             url, "--seconds", "86400"], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "dashboard open":
        proc.kill()
        sys.exit("the dashboard did not open")
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, help="artifact dir (default: a hashing artifact)")
    ap.add_argument("--loader", default=None, help="'module:function' for --artifact")
    ap.add_argument("--duration", type=int, default=60, help="seconds per load level")
    ap.add_argument("--rates", default="250,500,1000", help="requests/s levels")
    ap.add_argument("--connections", type=int, default=20, help="wrk connections")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--text-encoder", default=None, help="ServingConfig.text_encoder (onnx, "
                    "onnx-int8, pytorch); default: the config's")
    ap.add_argument("--user-tower", default=None, help="ServingConfig.user_tower (onnx, pytorch)")
    ap.add_argument("--warm-users", type=int, default=None,
                    help="ServingConfig.warm_users: users each worker caches before it is ready")
    ap.add_argument("--user-cache-size", type=int, default=None,
                    help="ServingConfig.user_cache_size (0 = every request runs the user tower)")
    ap.add_argument("--calls", type=int, default=200, help="freshness / upsert probes")
    ap.add_argument("--warm", type=int, default=0, help="request every user this many times "
                    "before the load levels (a steady state of returning shoppers; with N "
                    "workers, N passes cache most users in every worker)")
    ap.add_argument("--flows", type=float, default=50, help="shopper flows per second (post "
                    "a view, then ask for recommendations) during an extra level at the top "
                    "rate (0 = skip it)")
    ap.add_argument("--risk", default=None, help="[serving.risk_control] as JSON, e.g. "
                    "'{\"enabled\": false}' or '{\"every\": 1, \"quarantine\": false}'")
    ap.add_argument("--dashboard", action="store_true", help="keep one dashboard overview "
                    "open in headless Chromium during the levels (dashboard.py watch)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    # The server subprocess imports the hashing double's loader from tests/ too.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])

    items, sequences = load_beauty()
    work = Path(tempfile.mkdtemp(prefix="shelflm-bench-"))
    artifact, loader = args.artifact, args.loader or "shelflm.serving.runtime:load_artifact"
    if artifact is None:
        artifact, loader = work / "artifact", HASHING_LOADER
        save_hashing_artifact(HashingModel(Catalog.from_frame(items), dim=64), artifact)
    results: dict = {"artifact": str(artifact), "loader": loader}
    results["vector_search"] = vector_search(artifact, loader, 1000)
    print(json.dumps(results["vector_search"], indent=1), flush=True)
    t = time.perf_counter()
    results["events_loaded"] = build_store(work / "events.sqlite", sequences,
                                           set(items["item_id"]))
    results["load_seconds"] = round(time.perf_counter() - t, 1)
    users_file = work / "users.txt"
    users_file.write_text("\n".join(sequences) + "\n")
    settings = {k: v for k, v in [("text_encoder", args.text_encoder),
                                        ("user_tower", args.user_tower),
                                        ("user_cache_size", args.user_cache_size),
                                        ("warm_users", args.warm_users),
                                        ("risk_control", args.risk and json.loads(args.risk))]
                if v is not None}
    results["workers"], results["settings"] = args.workers, settings
    t = time.perf_counter()
    server = start_server(artifact, work / "events.sqlite", loader, args.workers, settings)
    results["ready_seconds"] = round(time.perf_counter() - t, 1)  # incl. warm_users
    results["dashboard_open"] = args.dashboard
    watcher = open_dashboard(server.url) if args.dashboard else None
    try:
        wrk(server.url, users_file, None, 3, args.connections, server.pid)  # warm-up
        if args.warm:
            results["warm_seconds"] = [warm_users(server.url, list(sequences))
                                       for _ in range(args.warm)]
        results["load"] = []
        before = worker_stats(server.url)
        rates = [float(r) for r in args.rates.split(",") if r]
        for rate in [*rates, None]:
            row = wrk(server.url, users_file, rate, args.duration, args.connections, server.pid)
            after = worker_stats(server.url)
            hits, misses = (after[k] - before[k] for k in ("cache_hits", "cache_misses"))
            row["user_cache_hit_rate"] = round(hits / max(hits + misses, 1), 3)
            before = after
            if rate is None:
                results["max_throughput"] = row
            else:
                results["load"].append(row)
            print(row, flush=True)
        if args.flows and rates:  # wrk's random users plus shoppers whose event just landed

            with ThreadPoolExecutor(1) as pool:
                flows = pool.submit(shopper_flows, server.url, list(sequences),
                                    items["item_id"].tolist(), args.flows, args.duration)
                row = wrk(server.url, users_file, rates[-1], args.duration, args.connections,
                          server.pid)
                results["mixed"] = {**row, "shopper_flows": flows.result()}
            print(results["mixed"], flush=True)
            before = worker_stats(server.url)
        results["server"] = {k: before[k] for k in ("workers_seen", "text_encoder", "user_tower")}
        if args.calls:  # every worker applies catalog changes made through any of them
            results["probes"] = timed_calls(server.url, list(sequences), items, args.calls)
            print(results["probes"], flush=True)
    finally:
        if watcher is not None:
            watcher.terminate()
            watcher.wait(30)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
