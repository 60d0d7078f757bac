"""Every ranking model shelflm can fit, by name: the one list of model names.

`build_model(name, dataset, config)` makes a fresh, unfitted `Recommender` from a run's
`ShelfConfig`; `shelflm train`, `compare`, `demo` and the benchmarks build models only
through here, so a new model is one entry in `MODELS`. The registry lives in training/, not
models/, because two of its builders make trainer-driven recommenders
(`training.recommender.ShelfRecommender`) and a model must not know its trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from shelflm.encoders.encode import encode
from shelflm.encoders.lm import torch_threads
from shelflm.encoders.peft.registry import build_tuner
from shelflm.models.baselines import EASE, ALSRecommender, ItemKNN, Popularity
from shelflm.models.item_text import TextSettings
from shelflm.text.templates import render_catalog
from shelflm.training.modalities import prepare_modalities, with_modalities
from shelflm.training.recommender import ShelfRecommender, sasrec_id

if TYPE_CHECKING:
    from shelflm.data.schema import Dataset
    from shelflm.evaluation.protocol import Recommender
    from shelflm.settings import ShelfConfig


class UnknownModelError(ValueError):
    """A model name that is not in the registry; the message lists the known ones."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model, and what can be done with it once fitted."""

    build: Callable[[Dataset, ShelfConfig], Recommender]
    summary: str
    artifact: bool = False  # the fitted model can be saved as a serving artifact
    classic: bool = False  # a classic baseline (no neural training; tuned on a grid)


def build_shelflm(dataset: Dataset, config: ShelfConfig) -> ShelfRecommender:
    """Our model: [text] template + [encoder] LM vectors (or a [tuning] tuner), [model]."""
    # A user-given model directory is recorded absolute, so the artifact works from anywhere.
    settings = TextSettings(config.text.item_template().format, config.encoder.resolved())
    texts = (list(render_catalog(dataset.catalog, config.text.item_template()))
             if config.model.items.use_text else [])
    model, inputs = config.model, None
    if model.items.modalities:  # images, numbers, a second text: widths from their data
        resolved, inputs = prepare_modalities(dataset.catalog, model.items.modalities,
                                              settings.encoder)
        model = with_modalities(model, resolved)
    if not model.items.use_text:  # an ID-only model (a shop without item text)
        rec = ShelfRecommender(model, config.training, None)
    elif config.tuning is not None:
        with torch_threads(config.encoder.threads):
            tuner = build_tuner(config.tuning, texts)
        rec = ShelfRecommender(model, config.training, None, tuner=tuner)
    else:
        vectors = encode(texts, settings.encoder)  # sets (and restores) encoder.threads
        rec = ShelfRecommender(model, config.training, vectors)
    rec.text_settings, rec.modality_inputs = settings, inputs
    return rec


def build_sasrec_id(dataset: Dataset, config: ShelfConfig) -> ShelfRecommender:
    """SASRec-ID: [model.sequence] user tower and [training], ID embeddings only."""
    sequence = asdict(config.model.sequence)
    return sasrec_id(config.training, hidden=sequence.pop("hidden"), **sequence)


MODELS: dict[str, ModelSpec] = {
    "shelflm": ModelSpec(build_shelflm, "ours: LM text + ID item tower, causal user tower",
                         artifact=True),
    "sasrec-id": ModelSpec(build_sasrec_id, "SASRec: the same user tower on item IDs only"),
    "popularity": ModelSpec(lambda dataset, config: Popularity(),
                            "most-interacted items first", classic=True),
    "itemknn": ModelSpec(lambda dataset, config: ItemKNN(),
                         "item-item cosine neighbours of the history", classic=True),
    "als": ModelSpec(lambda dataset, config: ALSRecommender(),
                     "implicit-feedback matrix factorisation (ALS)", classic=True),
    "ease": ModelSpec(lambda dataset, config: EASE(),
                      "EASE: closed-form item-item linear model", classic=True),
}


def model_names(classic: bool | None = None) -> tuple[str, ...]:
    """The registered names in order; only the classic baselines (or only the others)."""
    return tuple(n for n, s in MODELS.items() if classic is None or s.classic == classic)


def model_spec(name: str) -> ModelSpec:
    """The registry entry of `name`; UnknownModelError names the known models."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: "
                                f"{', '.join(MODELS)}") from None


def check_model_names(names: list[str]) -> None:
    """Raise UnknownModelError for the first unknown name (before any model is trained)."""
    for name in names:
        model_spec(name)


def build_model(name: str, dataset: Dataset, config: ShelfConfig) -> Recommender:
    """A fresh, unfitted model by name, configured by the run's ShelfConfig."""
    return model_spec(name).build(dataset, config)
