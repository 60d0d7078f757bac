"""Shared plumbing of the quality benchmarks: data, splits, cached LM vectors, result files.

The project's loaders and splits are used when present; the small fallbacks here (plain
pandas, the standard leave-one-out) keep the benchmarks runnable while those land.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
RUNS = ROOT / "runs"


def load_beauty() -> object:
    """Amazon Beauty 5-core as a Dataset (ordinal timestamps, titles as item text)."""
    from shelflm.data.schema import Catalog, Dataset, Interactions

    folder = SHARED_DATA / "amazon-beauty"
    try:
        from shelflm.data.loaders import load_dataset

        return load_dataset(folder)
    except (ImportError, ValueError, TypeError):
        pass
    items = pd.read_csv(folder / "items.csv", dtype=str, keep_default_na=False)
    rows = []
    for line in (folder / "sequences.txt").read_text().splitlines():
        user, *seq = line.split()
        rows.extend((user, item, pos) for pos, item in enumerate(seq))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset("amazon-beauty", Catalog.from_frame(items, "items.csv"),
                   Interactions.from_frame(events, "sequences.txt"), has_time=False)


def load_ml100k() -> object:
    """MovieLens-100K as a Dataset (rating events, titles and genres)."""
    from shelflm.data.loaders.movielens_100k import load_movielens_100k

    return load_movielens_100k(SHARED_DATA / "ml-100k")


@dataclass
class Cases:
    """Same fields as shelflm.data.splits.EvalCases (fallback while splits land)."""

    users: np.ndarray
    targets: np.ndarray
    histories: list
    history_events: list
    target_is_cold: np.ndarray


@dataclass
class SimpleSplit:
    """Same fields as shelflm.data.splits.Split."""

    train: object
    valid: Cases
    test: Cases
    cold_items: np.ndarray


def leave_one_out(dataset: object) -> object:
    """Last item of each user = test, second to last = valid, the rest = train."""
    try:
        from shelflm.data.splits import LeaveOneOutSplit

        return LeaveOneOutSplit().split(dataset)
    except ImportError:
        pass
    enc = dataset.encoded()
    enc["pos_from_end"] = enc.groupby("user").cumcount(ascending=False)
    train = enc[enc["pos_from_end"] >= 2]
    seqs = {u: (g["item"].to_numpy(), g["event_idx"].to_numpy()) for u, g in enc.groupby("user")}
    users = np.array(sorted(u for u, (s, _) in seqs.items() if len(s) >= 3))

    def cases(drop: int) -> Cases:
        hist = [seqs[u][0][: len(seqs[u][0]) - drop] for u in users]
        evs = [seqs[u][1][: len(seqs[u][1]) - drop] for u in users]
        tgt = np.array([seqs[u][0][len(seqs[u][0]) - drop] for u in users])
        return Cases(users, tgt, hist, evs, np.zeros(len(users), dtype=bool))

    cols = ["user_id", "item_id", "timestamp", "event", "value"]
    return SimpleSplit(dataset.with_interactions(train[cols].reset_index(drop=True)),
                       cases(2), cases(1), np.zeros(0, dtype=np.int64))


def item_texts(dataset: object, fmt: str = "{title}") -> list[str]:
    """Catalog rows rendered to text by the project's ItemTemplate."""
    from shelflm.text.templates import ItemTemplate, render_catalog

    return list(render_catalog(dataset.catalog, ItemTemplate(name="bench", format=fmt)))


def lm_vectors(texts: list[str], batch: int = 128) -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM vectors of texts, cached under runs/cache."""
    import torch

    from shelflm.encoders.lm import load_language_model, mean_pool

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = RUNS / "cache" / f"minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    tok, model = load_language_model()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            b = tok(texts[i:i + batch], padding=True, truncation=True, max_length=64,
                    return_tensors="pt")
            v = mean_pool(model(**b).last_hidden_state, b["attention_mask"])
            out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
    vectors = np.concatenate(out).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def write_result(name: str, payload: dict) -> Path:
    """Write one run's result JSON under runs/results/."""
    path = RUNS / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path
