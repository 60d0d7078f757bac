"""Shared plumbing of the quality benchmarks: data, splits, cached LM vectors, result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
RUNS = ROOT / "runs"


def load_beauty() -> object:
    """Amazon Beauty 5-core as a Dataset (ordinal timestamps, titles as item text)."""
    from shelflm.data.loaders import load_dataset

    return load_dataset(SHARED_DATA / "amazon-beauty")


def load_ml100k() -> object:
    """MovieLens-100K as a Dataset (rating events, titles and genres)."""
    from shelflm.data.loaders import load_dataset

    return load_dataset(SHARED_DATA / "ml-100k")


def leave_one_out(dataset: object) -> object:
    """Last item of each user = test, second to last = valid, the rest = train."""
    from shelflm.data.splits import LeaveOneOutSplit

    return LeaveOneOutSplit().split(dataset)


def item_texts(dataset: object, fmt: str = "{title}") -> list[str]:
    """Catalog rows rendered to text: `fmt` is a preset name or an ItemTemplate format."""
    from shelflm.text.templates import PRESETS, ItemTemplate, render_catalog

    template = PRESETS.get(fmt) or ItemTemplate(name="bench", format=fmt)
    return list(render_catalog(dataset.catalog, template))


def lm_vectors(texts: list[str], batch: int = 128, device: str = "cpu") -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM vectors of texts, cached under runs/cache/vectors."""
    from shelflm.encoders.config import EncoderConfig
    from shelflm.encoders.encode import TextEncoder

    cache = RUNS / "cache" / "vectors"
    config = EncoderConfig(max_length=64, batch_size=batch, cache_dir=str(cache))
    return TextEncoder(config, device=device).encode(texts)


def write_result(name: str, payload: dict) -> Path:
    """Write one run's result JSON under runs/results/."""
    path = RUNS / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path
