"""The registry of fine-tuning methods: build a tuner from its config, or load a saved one."""

from __future__ import annotations

import json
from pathlib import Path

from shelflm.encoders.config import DEFAULT_MODEL
from shelflm.encoders.lm import load_language_model
from shelflm.encoders.peft.adalora import AdaLoraTuner
from shelflm.encoders.peft.adaptor import AdaptorTuner
from shelflm.encoders.peft.base import (
    CONFIG_FILE,
    TEXTS_FILE,
    ItemTuner,
    resolve_base_model,
)
from shelflm.encoders.peft.config import TUNER_CONFIGS, TunerConfig, make_config
from shelflm.encoders.peft.full import FullTuner
from shelflm.encoders.peft.lora import LoraTuner
from shelflm.encoders.peft.top_layers import TopLayersTuner

__all__ = ["TUNERS", "build_tuner", "load_tuner", "make_config", "tuner_class"]


def tuner_table(*classes: type[ItemTuner]) -> dict[str, type[ItemTuner]]:
    """method name -> tuner class, one per config in TUNER_CONFIGS (checked, not assumed)."""
    table: dict[str, type[ItemTuner]] = {}
    for cls in classes:
        name = cls.config_class.method
        if not name or name in table or TUNER_CONFIGS.get(name) is not cls.config_class:
            raise ValueError(f"{cls.__name__}: method name {name!r} is empty, repeated, or "
                             f"not the one of its config in TUNER_CONFIGS")
        table[name] = cls
    if set(table) != set(TUNER_CONFIGS):
        raise ValueError(f"methods without a tuner: {sorted(set(TUNER_CONFIGS) - set(table))}")
    return table


TUNERS: dict[str, type[ItemTuner]] = tuner_table(
    AdaptorTuner, LoraTuner, AdaLoraTuner, TopLayersTuner, FullTuner)


def tuner_class(method: str) -> type[ItemTuner]:
    """The ItemTuner subclass of fine-tuning method `method`."""
    if method not in TUNERS:
        raise ValueError(f"unknown fine-tuning method {method!r}; known: {sorted(TUNERS)}")
    return TUNERS[method]


def build_tuner(config: TunerConfig, item_texts: list[str]) -> ItemTuner:
    """A fresh tuner for the catalog's item texts (row i = item index i)."""
    return tuner_class(config.method).build(config, item_texts)


def load_tuner(directory: str | Path, expected: type[ItemTuner] = ItemTuner) -> ItemTuner:
    """A tuner saved with `ItemTuner.save`; its base model is resolved relative to `directory`.
    A ValueError if it is not an `expected` (a method's class, to insist on one method)."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no {CONFIG_FILE}; not a saved item tuner")
    try:
        data = json.loads(config_path.read_text())
        texts = json.loads((directory / TEXTS_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{directory}: unreadable tuner files: {err}") from err
    cls = tuner_class(data.get("method", ""))
    if not issubclass(cls, expected):
        raise ValueError(f"{directory}: holds a {cls.config_class.method!r} tuner, "
                         f"not {expected.__name__}")
    config = cls.config_class.from_dict(data)
    base = resolve_base_model(config.base_model, relative_to=directory)
    if config.base_model != DEFAULT_MODEL:
        config.base_model = str(base)  # in memory: absolute; re-saving makes it relative again
    tokenizer, model = load_language_model(base)
    return cls.from_saved(config, texts, tokenizer, model, directory)
