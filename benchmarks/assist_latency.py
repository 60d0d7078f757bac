"""POST /assist latency under load (issue 17): conversations of 3 turns on Amazon Beauty.

    .venv/bin/python benchmarks/assist_latency.py --artifact runs/artifacts/beauty-risk \
        --rate 50 --duration 60

One server (`shelflm serve`, as benchmarks/serving.py starts it: every Beauty user's
history in its SQLite store). Open-loop load: a new conversation starts every 3 / rate
seconds (so `rate` requests a second in all), as a random Beauty user; its turns follow one
another as soon as the previous answer is in: turn 1 a wish made of a random Beauty title's
first words, turn 2 another title's ("... instead": a shift), turn 3 "not that brand" (a
refinement). Each request's latency is timed from its scheduled start (no coordinated
omission for turn 1; later turns start when their answer is due). Reported per turn and
overall: p50 / p99 and the server's CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from serving import KEY, build_store, cpu_seconds, load_beauty, start_server

_WORD = re.compile(r"[A-Za-z]{3,}")


def wish(title: str, rng: random.Random) -> str:
    """A keyword query: 2-4 words from the start of a product title."""
    words = _WORD.findall(title)[:6]
    return " ".join(words[: rng.randint(2, 4)]) or "gift set"


def conversation(client: httpx.Client, url: str, user: str, wishes: tuple[str, str],
                 start: float) -> list[tuple[int, float, int]]:
    """Three turns; each (turn, seconds since it was due, status)."""
    out, cid, due = [], None, start
    for n, message in enumerate((wishes[0], f"{wishes[1]} instead", "not that brand"), 1):
        body = {"message": message, "user_id": user, "k": 10}
        if cid:
            body["conversation_id"] = cid
        r = client.post(url + "/assist", json=body, headers={"X-API-Key": KEY})
        done = time.perf_counter()
        out.append((n, done - due, r.status_code))
        if r.status_code != 200:
            break
        cid, due = r.json()["conversation_id"], done
    return out


def run(url: str, users: list[str], titles: list[str], rate: float, duration: float,
        seed: int) -> list[tuple[int, float, int]]:
    """Open-loop conversations at rate / 3 a second for `duration` seconds."""
    rng, results, lock = random.Random(seed), [], threading.Lock()
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
    period, t0 = 3.0 / rate, time.perf_counter()

    def one(user: str, wishes: tuple[str, str], start: float) -> None:
        got = conversation(client, url, user, wishes, start)
        with lock:
            results.extend(got)

    with ThreadPoolExecutor(64) as pool:
        n = 0
        while (start := t0 + n * period) < t0 + duration:
            time.sleep(max(0.0, start - time.perf_counter()))
            pool.submit(one, rng.choice(users), (wish(rng.choice(titles), rng),
                                                 wish(rng.choice(titles), rng)), start)
            n += 1
    client.close()
    return results


def summary(results: list[tuple[int, float, int]]) -> dict:
    """p50 / p99 (ms) per turn and overall, and the error count."""
    ok = [(n, s) for n, s, status in results if status == 200]
    out = {"requests": len(results), "errors": sum(s != 200 for _, _, s in results)}
    for name, values in [("all", [s for _, s in ok])] + [
            (f"turn{t}", [s for n, s in ok if n == t]) for t in (1, 2, 3)]:
        ms = np.array(values) * 1e3
        out[name] = {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                     "p99_ms": round(float(np.percentile(ms, 99)), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, required=True, help="a trained Beauty artifact")
    ap.add_argument("--rate", type=float, default=50, help="requests a second (all turns)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load")
    ap.add_argument("--warmup", type=float, default=10, help="seconds of load not counted")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args()
    items, sequences = load_beauty()
    titles = [t for t in items["title"] if t]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.sqlite"
        build_store(db, sequences, set(items["item_id"]))
        server = start_server(args.artifact, db, "shelflm.serving.runtime:load_artifact", 1,
                              {})
        try:
            users = list(sequences)
            run(server.url, users, titles, args.rate, args.warmup, args.seed + 1)
            cpu0 = cpu_seconds(server.pid)
            results = run(server.url, users, titles, args.rate, args.duration, args.seed)
            cpu = cpu_seconds(server.pid) - cpu0
        finally:
            server.terminate()
            server.wait(30)
    out = {"rate": args.rate, "duration_s": args.duration, **summary(results),
           "server_cpu_share": round(cpu / args.duration, 3), "artifact": str(args.artifact)}
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
