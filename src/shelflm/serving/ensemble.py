"""Several artifacts served as one model: each member's score standardised per user over the
catalog, weighted, offset, and counted only on the items its gate admits, as ONE inner
product, so the index, the engine and the user cache serve it as they serve one artifact.

    score(u, i) = sum_k gate_k(i) * (weight_k * z_k(u, i) + offset_k)
    z_k(u, i)   = (u_k . v_k(i) - u_k . mean_k) / sqrt(u_k' cov_k u_k)

`mean_k` and `cov_k` are over the member's item vectors of the catalog served at load. A
gate is "all", "trained" (items with training events) or "untrained" (all others, and every
item added while serving). The cold-item ensemble of issue 13 is a text+ID member on the
trained items and a text-only member on the untrained ones: a product added a minute ago is
scored by a model that never relied on IDs, on the same scale as the trained ones.

The item vector is, per member, [gate * v ; gate], and after all of those, for each gated
member a shadow (1 - gate) * v: only the first `score_dim` columns score (ServingModel's
optional score_dim: the index holds those), the shadows are there so that the user tower
of each member reads its own vectors of the whole history (scored part + shadow), cold
items included.

The ensemble directory (`write_ensemble`) holds config.json ("format": "shelflm-ensemble",
the members and their weights, the fit on validation, the run record of the first member),
trained_items.parquet, and the member artifacts under members/: it is moved, served and
reloaded as one piece.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shelflm.data.schema import Catalog
from shelflm.models.serving_model import ServingModel
from shelflm.serving.text_blend import TextBlended

FORMAT, FORMAT_VERSION = "shelflm-ensemble", 1
CONFIG, TRAINED, MEMBERS = "config.json", "trained_items.parquet", "members"
GATES = ("all", "trained", "untrained")


@dataclass(frozen=True)
class Member:
    """One member as config.json records it; `path` is under the ensemble's members/."""

    path: str
    items: str = "all"  # which items it scores (GATES)
    weight: float = 1.0
    offset: float = 0.0  # added to its items' scores: the exposure they get
    text_weight: float = 0.0  # > 0: the member with the LM similarity blended in

    def __post_init__(self) -> None:
        if self.items not in GATES:
            raise ValueError(f"ensemble member {self.path}: items {self.items!r} is not one "
                             f"of {GATES}")
        if self.weight <= 0 or self.text_weight < 0:
            raise ValueError(f"ensemble member {self.path}: weight must be > 0 and "
                             f"text_weight >= 0, got {self.weight} and {self.text_weight}")


class Ensemble:
    """Members (ServingModels over one catalog) as one ServingModel (see the module doc)."""

    def __init__(self, models: list[ServingModel], members: list[Member],
                 trained: set[str], version: str = "") -> None:
        if len(models) != len(members) or not models:
            raise ValueError(f"ensemble: {len(models)} models for {len(members)} members")
        ids = list(models[0].catalog.ids)
        for spec, model in zip(members, models, strict=True):
            if list(model.catalog.ids) != ids:
                raise ValueError(f"ensemble member {spec.path}: its catalog differs from "
                                 f"{members[0].path}'s (members must share one catalog)")
        self.models, self.members, self.trained = models, members, trained
        self.version = version or "+".join(m.version for m in models)
        self._parts = self._layout()  # sets dim and score_dim
        self.item_vectors = self._item_rows(ids, [m.item_vectors for m in models])
        self._stats = [_moments(np.asarray(m.item_vectors, np.float64)) for m in models]

    def _layout(self) -> list[tuple[int, int, int, int]]:
        """Per member: start of its scored part, of its gate column, of its shadow, end of
        the shadow. Every scored part comes first (the index holds only those: score_dim),
        the shadows after them."""
        parts, at = [], 0
        for model in self.models:
            parts.append([at, at + model.dim])
            at += model.dim + 1
        self.score_dim = at
        for part, spec, model in zip(parts, self.members, self.models, strict=True):
            width = model.dim if spec.items != "all" else 0
            part += [at, at + width]
            at += width
        self.dim = at
        return [tuple(p) for p in parts]

    def _gates(self, ids: list[str], spec: Member) -> np.ndarray:
        if spec.items == "all":
            return np.ones(len(ids), np.float32)
        trained = np.fromiter((i in self.trained for i in ids), bool, len(ids))
        return (trained if spec.items == "trained" else ~trained).astype(np.float32)

    def _item_rows(self, ids: list[str], vectors: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(ids), self.dim), np.float32)
        for (start, gate_col, shadow, end), spec, v in zip(self._parts, self.members, vectors,
                                                            strict=True):
            gate = self._gates(ids, spec)
            out[:, start:gate_col] = gate[:, None] * v
            out[:, gate_col] = gate
            if end > shadow:
                out[:, shadow:end] = (1 - gate)[:, None] * v
        return out

    def _member_rows(self, k: int, rows: np.ndarray) -> np.ndarray:
        """Member k's own vectors of these ensemble rows (scored part + shadow)."""
        start, gate_col, shadow, end = self._parts[k]
        own = rows[:, start:gate_col]
        return own + rows[:, shadow:end] if end > shadow else own

    @property
    def catalog(self) -> Catalog:
        return self.models[0].catalog

    @property
    def text_vectors(self) -> np.ndarray:
        return self.models[0].text_vectors

    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        """New or changed rows: each member's vectors from their text; an item whose text
        changed lost its trained vector, so it is untrained from now on."""
        ids = [str(i) for i in items["item_id"]]
        self.trained = self.trained - set(ids)
        return self._item_rows(ids, [m.encode_items(items) for m in self.models])

    def encode_item_texts(self, items: pd.DataFrame) -> np.ndarray:
        return self.models[0].encode_item_texts(items)

    def encode_query(self, text: str) -> np.ndarray:
        return self.models[0].encode_query(text)

    def user_vector(self, history: np.ndarray, events: np.ndarray) -> np.ndarray:
        history = np.asarray(history, dtype=np.float32)
        if history.ndim != 2 or history.shape[1] != self.dim:
            raise ValueError(f"history must be (L, {self.dim}), got {history.shape}")
        out = np.zeros(self.dim, np.float32)
        if len(history) == 0:
            return out
        for k, (model, spec) in enumerate(zip(self.models, self.members, strict=True)):
            user = np.asarray(model.user_vector(self._member_rows(k, history), events),
                              np.float64)
            mean, cov = self._stats[k]
            scale = spec.weight / (np.sqrt(max(user @ cov @ user, 0.0)) + 1e-9)
            start, gate_col, _, _ = self._parts[k]
            out[start:gate_col] = scale * user
            out[gate_col] = spec.offset - scale * (user @ mean)
        return out

    def use_text_encoder(self, kind: str, cache_dir: Path | None = None,
                         threads: int = 1) -> None:
        """Every member's LM runtime (build_state's optional switch)."""
        for model in self.models:
            if hasattr(model, "use_text_encoder"):
                model.use_text_encoder(kind, cache_dir, threads)

    def use_user_tower(self, kind: str, cache_dir: Path | None = None, threads: int = 1) -> None:
        """Every member's user-tower runtime (build_state's optional switch)."""
        for model in self.models:
            if hasattr(model, "use_user_tower"):
                model.use_user_tower(kind, cache_dir, threads)

    def on_catalog(self, catalog: Catalog) -> Ensemble:
        """The ensemble over another catalog: an item stays trained where the member on the
        trained items kept its trained vector (same id, same text)."""
        moved = [m.on_catalog(catalog) for m in self.models]
        trained = set()
        for spec, old, new in zip(self.members, self.models, moved, strict=True):
            if spec.items == "trained":
                row_of = {item: row for row, item in enumerate(old.catalog.ids)}
                trained = {i for row, i in enumerate(catalog.ids) if i in self.trained
                           and np.array_equal(new.item_vectors[row],
                                              old.item_vectors[row_of[i]])}
        return Ensemble(moved, self.members, trained, self.version)


def _moments(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) covariance of item vectors: a score's per-user mean and
    variance over the catalog are u . mean and u' cov u."""
    mean = vectors.mean(0)
    centred = vectors - mean
    return mean, centred.T @ centred / max(len(vectors), 1)


def is_ensemble(directory: Path) -> bool:
    """Whether `directory` holds an ensemble (its config.json says so)."""
    path = directory / CONFIG
    try:
        return path.is_file() and json.loads(path.read_text()).get("format") == FORMAT
    except (ValueError, OSError):  # not JSON: read_artifact names what is wrong
        return False


def read_members(directory: Path) -> tuple[dict, list[Member], set[str]]:
    """config.json of an ensemble directory, its members and its trained item ids."""
    config = json.loads((directory / CONFIG).read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{directory / CONFIG}: format {config.get('format')!r} is not "
                         f"{FORMAT!r}")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{directory / CONFIG}: format_version {config['format_version']} "
                         f"is newer than this shelflm reads ({FORMAT_VERSION})")
    members = [Member(**m) for m in config["members"]]
    root = directory.resolve()
    for m in members:
        if not (directory / m.path).resolve().is_relative_to(root / MEMBERS):
            raise ValueError(f"{directory / CONFIG}: member {m.path!r} is not under {MEMBERS}/")
    trained = set(pd.read_parquet(directory / TRAINED)["item_id"].astype(str))
    return config, members, trained


def blended(models: list[ServingModel], members: list[Member]) -> list[ServingModel]:
    """Each model with its member's LM similarity blended in (text_weight > 0)."""
    return [TextBlended(m, s.text_weight) if s.text_weight > 0 else m
            for m, s in zip(models, members, strict=True)]


def load_ensemble(directory: str | Path,
                  load_member: Callable[[Path], ServingModel]) -> Ensemble:
    """An ensemble directory as one ServingModel; `load_member` loads one artifact."""
    root = Path(directory)
    config, members, trained = read_members(root)
    models = blended([load_member(root / spec.path) for spec in members], members)
    digest = hashlib.sha256((root / CONFIG).read_bytes())
    for model in models:
        digest.update(model.version.encode())
    return Ensemble(models, members, trained, digest.hexdigest()[:12])


def write_ensemble(out: Path, artifacts: list[Path], members: list[Member],
                   trained: set[str], records: dict) -> Path:
    """An ensemble directory: the member artifacts copied under members/ (named by the
    members' paths), the trained ids, and config.json last (its presence marks it complete)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).unlink(missing_ok=True)
    for source, spec in zip(artifacts, members, strict=True):
        shutil.copytree(source, out / spec.path, dirs_exist_ok=True)
    pd.DataFrame({"item_id": sorted(trained)}).to_parquet(out / TRAINED, index=False)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "members": [asdict(m) for m in members], **records}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return out
