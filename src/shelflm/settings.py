"""`ShelfConfig`: the whole run in one typed tree, one section per part of shelflm.

Each section is its part's own torch-free config dataclass, declared once next to the code
it configures (help text in each field's metadata["help"]):

    [data]      DataConfig: dataset path/format, which split and its options
    [text]      TextConfig: the item text template
    [encoder]   shelflm.encoders.config.EncoderConfig: language model, pooling, threads...
    [tuning]    method = "none" or a shelflm.encoders.peft method, plus that method's fields
    [model]     shelflm.models.config.ShelfModelConfig ([model.sequence], [model.items])
    [training]  shelflm.training.config.TrainConfig ([training.adversarial], [...augment])
    [serving]   shelflm.serving.config.ServingConfig
    [ranker]    shelflm.training.config.RankerConfig ([ranker.model], [ranker.training])
    [risk]      shelflm.models.risk_config.RiskConfig

Loaded by `load_shelf_config(path)` from TOML (or an artifact's config.json) plus
SHELFLM_<SECTION>__<FIELD> environment overrides, validated by pydantic; `to_toml` writes it
back. `load_serving_config` reads what `shelflm serve` needs. None of this imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, PlainSerializer, PlainValidator, ValidationError

from shelflm.config import (
    ConfigError,
    FieldPath,
    config_adapter,
    merge,
    read_config_file,
    to_dict,
    to_toml,
    validate_config,
)
from shelflm.data.loaders import FORMATS
from shelflm.data.splits import ColdStartItemSplit, LeaveOneOutSplit, Splitter, TemporalSplit
from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.peft.config import tuner_config_class
from shelflm.models.config import ShelfModelConfig
from shelflm.models.risk_config import RiskConfig
from shelflm.serving.config import ServingConfig
from shelflm.text.templates import PRESETS, ItemTemplate
from shelflm.training.config import RankerConfig, TrainConfig

ARTIFACT_KEY = "shelflm_config"  # where an artifact's config.json records its run
NO_TUNING = "none"
SPLITS = ("leave-one-out", "temporal", "cold-start")
# Unknown keys in a config file are errors, not silently ignored.
_STRICT = ConfigDict(extra="forbid")


@dataclass
class DataConfig:
    """Which dataset a run reads and how it is split into train / validation / test."""

    __pydantic_config__ = _STRICT

    path: Path | None = field(default=None, metadata={"help": (
        "Dataset file or folder (any supported format); the DATA argument of `shelflm "
        "train` overrides it.")})
    format: str | None = field(default=None, metadata={"help": (
        "Format name (project, movielens, sequences, table, ...); unset = detected from the "
        "path.")})
    also: list[Path] = field(default_factory=list, metadata={"help": (
        "More shops trained together with `path` (multi-shop: `shelflm train A B ...`): "
        "each keeps its own catalog and shoppers, ids prefixed with its dataset name; "
        "formats are detected.")})
    split: Literal["leave-one-out", "temporal", "cold-start"] = field(
        default="leave-one-out", metadata={
            "help": "Which splitter of the three tables below is used."})
    leave_one_out: LeaveOneOutSplit = field(default_factory=LeaveOneOutSplit, metadata={
        "help": "Per user: last event test, second-to-last validation."})
    temporal: TemporalSplit = field(default_factory=TemporalSplit, metadata={
        "help": "A global time cut."})
    cold_start: ColdStartItemSplit = field(default_factory=ColdStartItemSplit, metadata={
        "help": "Leave-one-out with a share of items held out of train (cold items)."})
    exclude_users: Path | None = field(default=None, metadata={"help": (
        "A CSV whose user_id column lists users whose events are left out (`shelflm risk "
        "score` output: only its flagged rows; `shelflm risk list`: the quarantined).")})

    def __post_init__(self) -> None:
        if self.path is not None:
            self.path = Path(self.path)
        if self.exclude_users is not None:
            self.exclude_users = Path(self.exclude_users)
        self.also = [Path(p) for p in self.also]
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"format: unknown format {self.format!r}; known: "
                             f"{', '.join(FORMATS)}")
        if self.split not in SPLITS:
            raise ValueError(f"split: {self.split!r} is not one of {SPLITS}")

    def splitter(self) -> Splitter:
        """The configured splitter."""
        return {"leave-one-out": self.leave_one_out, "temporal": self.temporal,
                "cold-start": self.cold_start}[self.split]


@dataclass
class TextConfig:
    """How a catalog row becomes the text the language model reads."""

    __pydantic_config__ = _STRICT

    template: str = field(default="title", metadata={"help": (
        "A preset (title, attributes, full) or a format string such as '{title}. Brand: "
        "{brand}'; the LM reads at most [encoder] max_length tokens of it.")})

    def __post_init__(self) -> None:
        if self.template in PRESETS:
            return
        if "{" not in self.template:
            raise ValueError(f"template: {self.template!r} is neither a preset "
                             f"({', '.join(PRESETS)}) nor a format string with {{fields}}")
        try:
            ItemTemplate(format=self.template)
        except ValidationError as exc:  # its message names the unknown {field}
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(f"template: {reason}") from exc

    def item_template(self) -> ItemTemplate:
        """The ItemTemplate this section names."""
        return PRESETS.get(self.template) or ItemTemplate(name="custom", format=self.template)


def _tuner_config(value: Any) -> Any:
    """A [tuning] table (`method` plus that method's fields) as the method's TunerConfig."""
    if value is None or (is_dataclass(value) and getattr(value, "method", "")):
        return value  # None or a TunerConfig already
    if not isinstance(value, dict):
        raise ValueError(f"expected a table with a 'method' key, got {value!r}")
    options = dict(value)
    method = options.pop("method", NO_TUNING)
    if method == NO_TUNING:
        if options:
            raise ValueError(f"options {sorted(options)} given but method is {NO_TUNING!r}")
        return None
    config_class = tuner_config_class(method)  # raises naming the known methods
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown} for method {method!r}; known: {sorted(known)}")
    return config_adapter(config_class).validate_python(options)


def _tuner_dict(config: Any) -> dict[str, Any]:
    return {"method": NO_TUNING} if config is None else config.to_dict()


# A shelflm.encoders.peft TunerConfig, or None for no fine-tuning.
TuningSection = Annotated[Any, PlainValidator(_tuner_config), PlainSerializer(_tuner_dict)]


@dataclass
class ShelfConfig:
    """Every setting of a run: data, text, encoder, tuning, model, training, serving."""

    __pydantic_config__ = _STRICT

    data: DataConfig = field(default_factory=DataConfig, metadata={
        "help": "Dataset and split."})
    text: TextConfig = field(default_factory=TextConfig, metadata={
        "help": "Item text template."})
    encoder: EncoderConfig = field(default_factory=EncoderConfig, metadata={"help": (
        "The language model that turns item text into vectors (training and the artifact's "
        "search space).")})
    tuning: TuningSection = field(default=None, metadata={"help": (
        "method = 'none' (frozen LM vectors through the item tower's whitened head) or a "
        "fine-tuning method (adaptor, lora, adalora, top_layers, full) with that method's "
        "fields in this table (its base_model is the LM it tunes).")})
    model: ShelfModelConfig = field(default_factory=ShelfModelConfig, metadata={
        "help": "User tower (sequence) and item tower (items)."})
    training: TrainConfig = field(default_factory=TrainConfig, metadata={
        "help": "Optimisation, stopping and regularisation."})
    serving: ServingConfig = field(default_factory=ServingConfig, metadata={
        "help": "`shelflm serve`: index, store, rules, API."})
    ranker: RankerConfig = field(default_factory=RankerConfig, metadata={
        "help": "`shelflm train --model cross-encoder`: the second stage over a retrieval "
                "artifact's top N."})
    risk: RiskConfig = field(default_factory=RiskConfig, metadata={
        "help": "`shelflm risk`: scoring users' risk, calibrated on the training shoppers."})

    def __post_init__(self) -> None:
        if self.tuning is not None and not self.model.items.use_text:
            raise ValueError(f"tuning.method = {self.tuning.method!r} tunes the text path, "
                             "but model.items.use_text is false")

    def to_toml(self, comments: bool = False) -> str:
        """This config as TOML (`comments`: each field's help above it)."""
        return to_toml(self, comments)

    def to_dict(self) -> dict[str, Any]:
        """This config as plain JSON-ready data (what an artifact records)."""
        return to_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        """This config as JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShelfConfig:
        """Validate a tree (as `to_dict` or a TOML file gives it); pydantic's errors on misfit."""
        return config_adapter(cls).validate_python(data)

    @classmethod
    def from_json(cls, text: str) -> ShelfConfig:
        """Validate the JSON `to_json` wrote."""
        return config_adapter(cls).validate_json(text)


# The top-level keys of a whole-run file and of a serving-only file, from the dataclasses.
ROOT_SECTIONS: tuple[str, ...] = tuple(f.name for f in fields(ShelfConfig))
SERVING_SECTIONS: tuple[str, ...] = tuple(f.name for f in fields(ServingConfig))


def _lift_serving(path: FieldPath) -> FieldPath:
    # The serving-only short form (SHELFLM_STORE__PATH) also works with a whole-run file.
    return ("serving", *path) if path[0] in SERVING_SECTIONS else path


def load_shelf_config(path: str | Path | None = None,
                      environ: Mapping[str, str] | None = None,
                      base: dict[str, Any] | None = None) -> ShelfConfig:
    """ShelfConfig from a TOML file, an artifact dir / its config.json, or defaults; + env.

    `base` is a tree laid under the file (a command's own defaults, such as the demo's
    short training): defaults < base < file < environment.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        data = read_config_file(path)
        if path.suffix == ".json" and "format" in data:  # an artifact's config.json
            if ARTIFACT_KEY not in data:
                raise ConfigError(f"{path}: this artifact records no run config (made before "
                                  "`shelflm train` wrote one)")
            data = data[ARTIFACT_KEY]
    return validate_config(ShelfConfig, merge(base or {}, data), path, environ, _lift_serving)


def load_serving_config(path: str | Path | None = None,
                        environ: Mapping[str, str] | None = None) -> ServingConfig:
    """ServingConfig from a serving-only file ([index], [store], ...) or a whole-run file.

    A whole-run file (any of ROOT_SECTIONS at the top) gives its [serving] table. Either way
    SHELFLM_SERVING__STORE__PATH and the short SHELFLM_STORE__PATH both override, and
    variables of the other run sections (SHELFLM_TRAINING__...) are left to `shelflm train`.
    """
    data = read_config_file(path) if path is not None else {}
    prefix: FieldPath = ()
    if set(data) & set(ROOT_SECTIONS):
        stray = sorted(set(data) - set(ROOT_SECTIONS))
        if stray:
            raise ConfigError(f"{path}: unknown sections {stray} in a whole-run file; "
                              f"sections are {list(ROOT_SECTIONS)}")
        data, prefix = data.get("serving", {}), ("serving",)
    return validate_config(ServingConfig, data, path, environ, _into_serving, prefix)


def _into_serving(path: FieldPath) -> FieldPath | None:
    if path[0] == "serving":
        return path[1:] or None
    return None if path[0] in ROOT_SECTIONS else path


def artifact_record(config: ShelfConfig) -> dict[str, dict]:
    """The run's effective config as an entry of an artifact's config.json (`save_artifact`'s
    `records`), so `load_shelf_config(artifact)` repeats the run."""
    return {ARTIFACT_KEY: config.to_dict()}
