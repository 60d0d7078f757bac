"""`ShelfConfig`: the whole run in one typed tree, one section per part of shelflm.

The sections reuse each part's own config type (dataclasses and pydantic models alike;
pydantic validates both), so a field is declared once, next to the code it configures:

    [data]      DataConfig: dataset path/format, which split and its options
    [text]      TextConfig: the item text template
    [encoder]   shelflm.encoders.lm.TextEncoderConfig: language model, pooling, threads...
    [tuning]    method = "none" or a shelflm.encoders.peft method, plus that method's fields
    [model]     shelflm.models.shelf_model.ShelfModelConfig ([model.sequence], [model.items])
    [training]  shelflm.training.trainer.TrainConfig ([training.adversarial], [...augment])
    [serving]   shelflm.serving.config.ServingConfig

Loaded by `load_shelf_config(path)` from TOML (or an artifact's config.json) plus
SHELFLM_<SECTION>__<FIELD> environment overrides; `to_toml` writes it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from shelflm.config import (
    SERVING_SECTIONS,
    ConfigError,
    StrictModel,
    read_config_file,
    to_toml,
    validate_config,
)
from shelflm.data.splits import ColdStartItemSplit, LeaveOneOutSplit, Splitter, TemporalSplit
from shelflm.encoders.lm import TextEncoderConfig
from shelflm.encoders.peft.base import TunerConfig
from shelflm.models.artifact import DEFAULT_LM, TextSettings
from shelflm.models.shelf_model import ShelfModelConfig
from shelflm.serving.config import ServingConfig
from shelflm.text.templates import PRESETS, ItemTemplate
from shelflm.training.trainer import TrainConfig

ARTIFACT_KEY = "shelflm_config"  # where an artifact's config.json records its run
NO_TUNING = "none"


class DataConfig(StrictModel):
    """Which dataset a run reads and how it is split into train / validation / test."""

    path: Path | None = Field(None, description="Dataset file or folder (any supported "
                              "format); the DATA argument of `shelflm train` overrides it.")
    format: str | None = Field(None, description="Format name (project, movielens, "
                               "sequences, table, ...); unset = detected from the path.")
    split: Literal["leave-one-out", "temporal", "cold-start"] = Field(
        "leave-one-out", description="Which splitter of the three tables below is used.")
    leave_one_out: LeaveOneOutSplit = Field(
        default_factory=LeaveOneOutSplit, description="Per user: last event test, "
        "second-to-last validation.")
    temporal: TemporalSplit = Field(default_factory=TemporalSplit,
                                    description="A global time cut.")
    cold_start: ColdStartItemSplit = Field(
        default_factory=ColdStartItemSplit, description="Leave-one-out with a share of items "
        "held out of train (cold items).")

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        from shelflm.data.loaders import FORMATS

        if value is not None and value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; known: {', '.join(FORMATS)}")
        return value

    def splitter(self) -> Splitter:
        """The configured splitter."""
        return {"leave-one-out": self.leave_one_out, "temporal": self.temporal,
                "cold-start": self.cold_start}[self.split]


class TextConfig(StrictModel):
    """How a catalog row becomes the text the language model reads."""

    template: str = Field("title", description="A preset (title, attributes, full) or a "
                          "format string such as '{title}. Brand: {brand}'; the LM reads at "
                          "most [encoder] max_length tokens of it.")

    @field_validator("template")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        if value not in PRESETS:
            if "{" not in value:
                raise ValueError(f"{value!r} is neither a preset ({', '.join(PRESETS)}) nor a "
                                 "format string with {fields}")
            try:
                ItemTemplate(format=value)
            except ValidationError as exc:  # its message names the unknown {field}
                raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc
        return value

    def item_template(self) -> ItemTemplate:
        """The ItemTemplate this section names."""
        return PRESETS.get(self.template) or ItemTemplate(name="custom", format=self.template)


def _tuner_config(value: Any) -> TunerConfig | None:
    """A [tuning] table (`method` plus that method's fields) as the method's typed config."""
    if value is None or isinstance(value, TunerConfig):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected a table with a 'method' key, got {value!r}")
    from dataclasses import fields

    from pydantic import TypeAdapter

    from shelflm.encoders.peft.registry import tuner_class

    options = dict(value)
    method = options.pop("method", NO_TUNING)
    if method == NO_TUNING:
        if options:
            raise ValueError(f"options {sorted(options)} given but method is {NO_TUNING!r}")
        return None
    config_class = tuner_class(method).config_class  # raises naming the known methods
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown} for method {method!r}; known: {sorted(known)}")
    return TypeAdapter(config_class).validate_python(options)


def _tuner_dict(config: TunerConfig | None) -> dict[str, Any]:
    return {"method": NO_TUNING} if config is None else config.to_dict()


TuningSection = Annotated[TunerConfig | None, PlainValidator(_tuner_config),
                          PlainSerializer(_tuner_dict)]


class ShelfConfig(StrictModel):
    """Every setting of a run: data, text, encoder, tuning, model, training, serving."""

    data: DataConfig = Field(default_factory=DataConfig, description="Dataset and split.")
    text: TextConfig = Field(default_factory=TextConfig, description="Item text template.")
    encoder: TextEncoderConfig = Field(
        default_factory=TextEncoderConfig, description="The language model that turns item "
        "text into vectors (training and the artifact's search space).")
    tuning: TuningSection = Field(
        None, description="method = 'none' (frozen LM vectors through the item tower's "
        "whitened head) or a fine-tuning method (adaptor, lora, adalora, top_layers, full) "
        "with that method's fields in this table (its base_model is the LM it tunes).")
    model: ShelfModelConfig = Field(default_factory=ShelfModelConfig,
                                    description="User tower (sequence) and item tower (items).")
    training: TrainConfig = Field(default_factory=TrainConfig,
                                  description="Optimisation, stopping and regularisation.")
    serving: ServingConfig = Field(default_factory=ServingConfig,
                                   description="`shelflm serve`: index, store, rules, API.")

    @model_validator(mode="after")
    def _sections_agree(self) -> ShelfConfig:
        # Artifacts encode new items and queries with mean pooling (TextSettings), so the
        # training vectors must be made the same way or served vectors would not match.
        if self.encoder.pooling != "mean":
            raise ValueError(f"encoder.pooling = {self.encoder.pooling!r}: training and "
                             "artifacts use mean pooling only")
        if self.tuning is not None and not self.model.items.use_text:
            raise ValueError(f"tuning.method = {self.tuning.method!r} tunes the text path, "
                             "but model.items.use_text is false")
        return self

    def text_settings(self) -> TextSettings:
        """How the artifact renders and encodes item text, from [text] and [encoder]."""
        path = self.encoder.model_path
        return TextSettings(item_format=self.text.item_template().format,
                            language_model=DEFAULT_LM if path is None else str(path.resolve()),
                            max_tokens=self.encoder.max_length, normalize=self.encoder.normalize)

    def to_toml(self, comments: bool = False) -> str:
        """This config as TOML (`comments`: each field's help above it)."""
        return to_toml(self, comments)


def _lift_serving(path: tuple[str, ...]) -> tuple[str, ...]:
    # The serving-only short form (SHELFLM_STORE__PATH) also works with a whole-run file.
    return ("serving", *path) if path[0] in SERVING_SECTIONS else path


def load_shelf_config(path: str | Path | None = None,
                      environ: Mapping[str, str] | None = None) -> ShelfConfig:
    """ShelfConfig from a TOML file, an artifact dir / its config.json, or defaults; + env."""
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
    return validate_config(ShelfConfig, data, path, environ, _lift_serving)


def record_in_artifact(config: ShelfConfig, directory: str | Path) -> None:
    """Add the run's effective config to an artifact's config.json (reproducible runs)."""
    file = Path(directory) / "config.json"
    meta = json.loads(file.read_text())
    meta[ARTIFACT_KEY] = config.model_dump(mode="json")
    file.write_text(json.dumps(meta, indent=2) + "\n")
