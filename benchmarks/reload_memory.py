"""Memory across reloads, in process: an Engine on a hashing artifact of the Beauty items with
every Beauty history in an SQLite store, mixed traffic from a few threads (recommendations,
events, searches, item upserts), and a reload every --every seconds; RSS after each.

    .venv/bin/python benchmarks/reload_memory.py                 # 6 reloads, 15 s apart
    .venv/bin/python benchmarks/reload_memory.py --trim          # malloc_trim(0) after each
    MALLOC_ARENA_MAX=2 .venv/bin/python benchmarks/reload_memory.py

No HTTP: it isolates what a reload and the engine's caches keep (benchmarks/soak.py has the
whole server).
"""

from __future__ import annotations

import argparse
import ctypes
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from hashing_model import HashingModel, save_hashing_artifact  # noqa: E402
from serving import HASHING_LOADER, build_store, load_beauty  # noqa: E402
from shelflm.data.schema import Catalog  # noqa: E402
from shelflm.serving.config import ServingConfig, StoreConfig  # noqa: E402
from shelflm.serving.engine import Engine  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402


def rss_mb() -> float:
    """This process's resident memory in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shopper(engine: Engine, users: list[str], items: list[str], seed: int,
            stop: threading.Event) -> None:
    """Mixed traffic until `stop`: recommendations, 1 in 5 an event, searches, upserts."""
    rnd, n = random.Random(seed), 0
    while not stop.is_set():
        user, n = rnd.choice(users), n + 1
        engine.recommend(user, 10)
        if n % 5 == 0:
            engine.ingest([Event(user, rnd.choice(items), "view", 0)])
        if n % 20 == 0:
            engine.search("lip " + rnd.choice(["balm", "gloss", "cream"]), 10)
        if n % 20 == 1:
            engine.upsert_items(pd.DataFrame([{"item_id": f"soak-{rnd.randrange(1000)}",
                                               "title": f"soak item {n}"}]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reloads", type=int, default=6)
    p.add_argument("--every", type=float, default=15.0, help="seconds between reloads")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--warmup", type=float, default=20.0)
    p.add_argument("--trim", action="store_true", help="malloc_trim(0) after each reload")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shelflm-reload-memory-"))
    items, sequences = load_beauty()
    artifact = save_hashing_artifact(HashingModel(Catalog.from_frame(items), 64),
                                     work / "models" / "a")
    build_store(work / "events.sqlite", sequences, set(items.item_id))
    engine = Engine.from_artifact(artifact, ServingConfig(
        store=StoreConfig(path=work / "events.sqlite"), model_loader=HASHING_LOADER,
        models_dir=work / "models"))
    engine.warm_up()
    stop = threading.Event()
    threads = [threading.Thread(target=shopper, args=(engine, list(sequences),
                                                      list(items.item_id), s, stop))
               for s in range(args.threads)]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    print(f"after warm-up: RSS {rss_mb():.0f} MB", flush=True)
    for r in range(1, args.reloads + 1):
        t = time.perf_counter()
        engine.reload("a")
        took = time.perf_counter() - t
        time.sleep(args.every)
        line = f"reload {r} ({took:.2f} s): RSS {rss_mb():.0f} MB"
        if args.trim:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            line += f", {rss_mb():.0f} MB after malloc_trim"
        print(line, flush=True)
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
