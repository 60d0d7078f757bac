"""Shared plumbing of the quality benchmarks: data, splits, cached LM vectors, result files."""

from __future__ import annotations

import hashlib
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
    """Mean-pooled, L2-normalised MiniLM vectors of texts, cached under runs/cache."""
    import torch

    from shelflm.encoders.lm import load_language_model, mean_pool

    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = RUNS / "cache" / f"minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    tok, model = load_language_model()
    model = model.to(device)
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            b = tok(texts[i:i + batch], padding=True, truncation=True, max_length=64,
                    return_tensors="pt").to(device)
            v = mean_pool(model(**b).last_hidden_state, b["attention_mask"])
            out.append(torch.nn.functional.normalize(v, dim=-1).cpu().numpy())
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
