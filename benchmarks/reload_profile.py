"""Where a reload's time goes: one in-process `Engine.reload` of a new version of an artifact
with warm users, under cProfile (the functions with the most cumulative time).

The artifact is copied twice into a models folder; the second copy's config.json gets
another name, so it is a new version (its ONNX user tower is not in the cache yet). A
SQLite store holds --users users with 20 events each, all warm.

    .venv/bin/python benchmarks/reload_profile.py runs/artifacts/ml100k-carry-base-s0
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from shelflm.serving.config import ServingConfig  # noqa: E402
from shelflm.serving.engine import Engine  # noqa: E402
from shelflm.serving.runtime import load_artifact  # noqa: E402
from shelflm.serving.store import Event  # noqa: E402
from shelflm.serving.store.sqlite_store import SqliteEventStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--users", type=int, default=900)
    ap.add_argument("--rows", type=int, default=30, help="functions listed")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shelflm-reload-"))
    shutil.copytree(args.artifact, root / "v1")
    shutil.copytree(args.artifact, root / "v2")
    config = json.loads((root / "v2" / "config.json").read_text())
    (root / "v2" / "config.json").write_text(json.dumps({**config, "name": "v2"}))
    model = load_artifact(root / "v1")
    store = SqliteEventStore(root / "events.sqlite")
    ids = list(model.artifact.catalog.ids[:500])
    rng = np.random.default_rng(0)
    store.append([Event(f"u{u}", ids[rng.integers(len(ids))], "purchase", t)
                  for u in range(args.users) for t in range(20)])
    engine = Engine(model, store, ServingConfig(models_dir=root))
    print("warm users:", engine.warm_up())
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    engine.reload("v2")
    profile.disable()
    print(f"reload: {time.perf_counter() - started:.3f} s")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.rows)


if __name__ == "__main__":
    main()
