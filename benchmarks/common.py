"""Shared plumbing of the quality benchmarks: data, splits, cached LM vectors, result files."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

from shelflm.data.loaders import load_dataset  # noqa: E402
from shelflm.data.splits import LeaveOneOutSplit  # noqa: E402
from shelflm.encoders.config import EncoderConfig  # noqa: E402
from shelflm.encoders.encode import TextEncoder  # noqa: E402
from shelflm.text.templates import PRESETS, ItemTemplate, render_catalog  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
RUNS = ROOT / "runs"
# MiniLM, mean-pooled and L2-normalised, vectors cached under runs/cache/vectors.
CACHED_ENCODER = EncoderConfig(max_length=64, batch_size=128,
                               cache_dir=str(RUNS / "cache" / "vectors"))


def load_beauty() -> object:
    """Amazon Beauty 5-core as a Dataset (ordinal timestamps, titles as item text)."""
    return load_dataset(SHARED_DATA / "amazon-beauty")


def load_ml100k() -> object:
    """MovieLens-100K as a Dataset (rating events, titles and genres)."""
    return load_dataset(SHARED_DATA / "ml-100k")


BUNDLES = ("electronic", "clothing", "food")  # amazon-bundle domains, zero-shot targets


def load_bundle_sessions(domain: str) -> object:
    """One amazon-bundle domain's sessions as sequences (the zero-shot targets)."""
    return load_dataset(SHARED_DATA / "amazon-bundle" / domain, format="amazon-bundle-sessions")


def load_office() -> object:
    """Amazon Office (as LRD / ReChorus prepared it) as a Dataset: Office.text as the title,
    i_category / i_brand (integer ids) as category and brand, and the item graph's
    r_complement / r_substitute lists as `attributes` {"complements": [...],
    "substitutes": [...]} (ItemTowerConfig.graph_links). Events of train, dev and test in that
    order within a day, so leave-one-out holds out the files' own dev and test events."""
    import pandas as pd

    from shelflm.data.schema import Catalog, Dataset, Interactions

    root = SHARED_DATA / "amazon-office"
    index = pd.read_csv(root / "Office.item2index", sep="\t", header=None,
                        names=["asin", "item_id"], dtype=str)
    text = pd.read_csv(root / "Office.text", sep="\t", dtype=str).rename(columns={"id": "asin"})
    meta = pd.read_csv(root / "item_meta.csv", sep="\t", dtype=str)
    items = index.merge(text, on="asin").merge(meta, on="item_id", how="left").fillna("[]")
    links = [json.dumps({"complements": [str(i) for i in json.loads(c)],
                         "substitutes": [str(i) for i in json.loads(s)]})
             for c, s in zip(items["r_complement"], items["r_substitute"], strict=True)]
    catalog = Catalog.from_frame(pd.DataFrame({
        "item_id": items["item_id"], "title": items["text"], "attributes": links,
        "category": items["i_category"].replace("[]", ""),
        "brand": items["i_brand"].replace("[]", "")}))
    frames = [pd.read_csv(root / f"{name}.csv", sep="\t", dtype=str,
                          usecols=["user_id", "item_id", "time"]).assign(part=k)
              for k, name in enumerate(("train", "dev", "test"))]
    events = pd.concat(frames, ignore_index=True)
    events["order"] = np.arange(len(events))
    events = events.assign(t=events["time"].astype(np.int64)).sort_values(["t", "part", "order"])
    events = events.assign(timestamp=np.arange(len(events)))[["user_id", "item_id", "timestamp"]]
    return Dataset("amazon-office", catalog, Interactions.from_frame(events))


def load_named(name: str) -> object:
    """A benchmark dataset by name: amazon-beauty, amazon-office, ml-100k, ml-latest-small
    or bundle-<domain>."""
    if name == "amazon-office":
        return load_office()
    if name.startswith("bundle-"):
        return load_bundle_sessions(name.removeprefix("bundle-"))
    if name == "ml-latest-small":
        return load_dataset(SHARED_DATA / "ml-latest-small")
    return load_ml100k() if name == "ml-100k" else load_beauty()


def leave_one_out(dataset: object) -> object:
    """Last item of each user = test, second to last = valid, the rest = train."""
    return LeaveOneOutSplit().split(dataset)


def item_texts(dataset: object, fmt: str = "{title}") -> list[str]:
    """Catalog rows rendered to text: `fmt` is a preset name or an ItemTemplate format."""
    template = PRESETS.get(fmt) or ItemTemplate(name="bench", format=fmt)
    return list(render_catalog(dataset.catalog, template))


def lm_vectors(texts: list[str], batch: int = 128, device: str = "cpu") -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM vectors of texts, cached under runs/cache/vectors."""
    config = replace(CACHED_ENCODER, batch_size=batch)
    return TextEncoder(config, device=device).encode(texts)


def pick_text_weight(served: object, valid: object, weights: list[float]
                     ) -> tuple[object, float, dict[str, float]]:
    """Of `weights` (ServingConfig.text_weight; 0 = the model alone), the one with the best
    validation NDCG@10 on the cases `valid`: (the served model with it, it, all scores)."""
    from shelflm.evaluation.protocol import evaluate_ranking
    from shelflm.evaluation.served import ServedRecommender
    from shelflm.serving.text_blend import TextBlended

    def blend(w: float) -> object:
        return TextBlended(served, w) if w > 0 else served

    scores = {w: evaluate_ranking(ServedRecommender(blend(w), f"w{w:g}"), valid)["ndcg@10"]
              for w in weights}
    best = max(scores, key=scores.get)
    return blend(best), best, {f"{w:g}": v for w, v in scores.items()}


def _plain(value: object) -> float | str:
    """JSON for what json does not know: numpy numbers as floats, paths as strings."""
    return str(value) if isinstance(value, Path) else float(value)


def write_result(name: str, payload: dict) -> Path:
    """Write one run's result JSON under runs/results/."""
    path = RUNS / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_plain))
    return path


_RISK_DETECTOR: list[str] = []  # the --detector of a risk benchmark, when one is given


def use_risk_detector(name: str | None) -> None:
    """Score with [risk] detector `name` (None: RiskConfig's default)."""
    _RISK_DETECTOR[:] = [name] if name else []


def risk_config() -> object:
    """The default RiskConfig, with the chosen detector."""
    # Deferred: only the risk benchmarks need it.
    from shelflm.models.risk_config import RiskConfig

    return RiskConfig(detector=_RISK_DETECTOR[0]) if _RISK_DETECTOR else RiskConfig()


def risk_tag() -> str:
    """The result-name suffix of the chosen detector ("" for the default)."""
    return f"-{_RISK_DETECTOR[0]}" if _RISK_DETECTOR else ""
