"""An artifact's model card, read from its files alone (torch-free: the dashboard and the
serving app read it): what it was trained on and how, its metrics on each split, its training
curve and lineage; the versions in a models directory; two versions side by side.

The card's sources, all optional but config.json: config.json (sizes, text, tuner, the run's
config under "shelflm_config", "lineage"), training.json (save_artifact: the epoch records and
the trainable share of the last fit), metrics.json (`shelflm train` / `update`: test metrics).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

FORMAT = "shelflm-artifact"
FORMAT_VERSION = 2  # 2: no "history_vectors" (version 1 stored a copy of "item_vectors")
CONFIG, WEIGHTS, TRAINING, METRICS = (
    "config.json", "model.safetensors", "training.json", "metrics.json")
RUN_KEY = "shelflm_config"  # settings.ARTIFACT_KEY (settings imports the whole config tree)
_MAX_VERSIONS = 200


def version_hash(config_bytes: bytes, weights: bytes) -> str:
    """An artifact's version: 12 hex digits of sha256(config.json + model.safetensors)."""
    return hashlib.sha256(config_bytes + weights).hexdigest()[:12]


def finite(value: object) -> object:
    """`value` with every NaN or infinity inside it replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def read_config(root: Path, fmt: str = FORMAT, version: int = FORMAT_VERSION,
                kind: str = "shelflm artifact") -> tuple[bytes, dict]:
    """config.json's bytes and content, checked to be a `fmt` directory this shelflm reads
    (format_version up to `version`)."""
    path = root / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{root}: not a {kind} (no {CONFIG})")
    raw = path.read_bytes()
    config = json.loads(raw)
    if config.get("format") != fmt:
        raise ValueError(f"{path}: format {config.get('format')!r} is not {fmt!r}")
    if config.get("format_version", 0) > version:
        raise ValueError(f"{path}: format_version {config['format_version']} is newer than "
                         f"this shelflm reads ({version})")
    return raw, config


def _json(path: Path) -> dict | list | None:
    """A JSON file's content; None when it is missing or unreadable (a card shows less)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def model_card(directory: str | Path) -> dict:
    """The card of one artifact directory, from its files alone (no weights are loaded);
    FileNotFoundError / ValueError naming the folder when it is no artifact this reads."""
    root = Path(directory)
    raw, config = read_config(root)
    weights = root / WEIGHTS
    version = version_hash(raw, weights.read_bytes()) if weights.is_file() else None
    training = _json(root / TRAINING) or {}
    curves = finite(training.get("epochs", []))
    run = config.get(RUN_KEY) or {}
    trainable, total = training.get("trainable") or (None, None)
    return {
        "name": root.name, "directory": str(root), "version": version,
        "saved": _saved(root / CONFIG), "model": config.get("name"),
        "format_version": config.get("format_version"), "num_items": config.get("num_items"),
        "dim": config.get("dim"), "text_dim": config.get("text_dim"),
        "item_format": (config.get("text") or {}).get("item_format"),
        "encoder": (config.get("text") or {}).get("encoder"),
        "tuning": {"method": config.get("tuner") or run.get("tuning", {}).get("method"),
                   "trainable": trainable, "total": total,
                   "share": trainable / total if trainable is not None and total else None},
        "data": run.get("data"), "training": run.get("training"), "config": run or None,
        "metrics": {"valid": _best_valid(curves), "test": finite(_json(root / METRICS))},
        "curves": curves, "lineage": config.get("lineage"),
        "modalities": config.get("modalities", []), "size_bytes": _size(root),
    }


def saved_at(root: Path) -> datetime | None:
    """When the artifact at `root` was saved (its config.json, written last); None: none."""
    try:
        return datetime.fromtimestamp((root / CONFIG).stat().st_mtime, UTC)
    except OSError:
        return None


def _saved(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _best_valid(curves: list[dict]) -> dict | None:
    """The validation metrics of the epoch early stopping kept (the best valid NDCG@10)."""
    scored = [r for r in curves if r.get("valid_ndcg@10") is not None]
    if not scored:
        return None
    best = max(scored, key=lambda r: r["valid_ndcg@10"])
    return {"epoch": best.get("epoch"),
            **{k[6:]: v for k, v in best.items() if k.startswith("valid_")}}


def list_versions(models_dir: Path, live: Path | None) -> list[dict]:
    """The artifact folders directly inside `models_dir` (newest first, at most 200), each
    with its name, save time, test NDCG@10 where known, and whether it is `live`."""
    if not models_dir.is_dir():
        return []
    found = [p for p in models_dir.iterdir() if (p / CONFIG).is_file()]
    found.sort(key=lambda p: (p / CONFIG).stat().st_mtime, reverse=True)
    live_real = live.resolve() if live is not None else None
    out = []
    for path in found[:_MAX_VERSIONS]:
        metrics = _json(path / METRICS) or {}
        out.append({"name": path.name, "saved": _saved(path / CONFIG),
                    "ndcg@10": finite(metrics.get("ndcg@10")),
                    "live": path.resolve() == live_real})
    return out


def compare_cards(a: dict, b: dict) -> dict:
    """Two cards side by side: the run settings that differ and every metric of either."""
    flat_a, flat_b = _flatten(a.get("config") or {}), _flatten(b.get("config") or {})
    differ = [{"key": k, "a": flat_a.get(k), "b": flat_b.get(k)}
              for k in sorted(set(flat_a) | set(flat_b)) if flat_a.get(k) != flat_b.get(k)]
    metrics = []
    for split in ("valid", "test"):
        ma, mb = a["metrics"][split] or {}, b["metrics"][split] or {}
        metrics += [{"split": split, "metric": m, "a": ma.get(m), "b": mb.get(m)}
                    for m in sorted(set(ma) | set(mb)) if m != "epoch"]
    return {"a": a, "b": b, "config_diff": differ, "metrics": metrics}


def _flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out: dict = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out
