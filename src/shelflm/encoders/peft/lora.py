"""`lora`: low-rank adapters on the attention projections, through the peft library.

`PeftTuner` holds what every peft-based method shares (wrapping, saving with peft's
save_pretrained, reloading with PeftModel.from_pretrained); `LoraTuner` is the plain method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.peft.base import TunerConfig, WholeModelTuner, base_model_reference
from shelflm.encoders.peft.registry import register_tuner

ADAPTER_DIR = "adapter"
ATTENTION = ("query", "key", "value")
# Suffix-matched by peft: the attention output projection and both feed-forward projections.
DENSE = ("dense",)


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

    def peft_config(self) -> PeftConfig:
        """The peft library's config for this method."""
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), bias="none")


class PeftTuner(WholeModelTuner):
    """Any method whose trainable weights are a peft adapter on the whole language model."""

    def __init__(self, config: TunerConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
                 adapter_dir: Path | None = None) -> None:
        super().__init__(config, item_texts, tokenizer, model)
        self.prepare_base(model)
        if adapter_dir is None:
            self.model = get_peft_model(model, self.make_peft_config(model))
        else:
            if not (adapter_dir / "adapter_config.json").is_file():
                raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (peft adapter)")
            self.model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)

    def make_peft_config(self, model: PreTrainedModel) -> PeftConfig:
        """The peft config to wrap `model` with (top_layers restricts it to the top layers)."""
        return self.config.peft_config()

    def prepare_base(self, model: PreTrainedModel) -> None:
        """Hook run on the plain base model before the adapter wraps it (top_layers caches here)."""


    def adapter_state(self) -> dict[str, torch.Tensor]:
        """peft's own adapter state dict (what save_pretrained writes)."""
        return {k: v.detach() for k, v in get_peft_model_state_dict(
            self.model, save_embedding_layers=False).items()}

    def _save_weights(self, directory: Path) -> None:
        peft_config = self.model.peft_config["default"]
        original = peft_config.base_model_name_or_path
        # peft records the absolute load path; write our portable reference instead.
        peft_config.base_model_name_or_path = base_model_reference(
            self.config.base_model, directory / ADAPTER_DIR)
        try:
            # Embeddings never train here; False also stops peft probing the hub for "default".
            self.model.save_pretrained(str(directory / ADAPTER_DIR), save_embedding_layers=False)
        finally:
            peft_config.base_model_name_or_path = original

    @classmethod
    def from_saved(cls, config: TunerConfig, item_texts: list[str],
                   tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
                   directory: Path) -> PeftTuner:
        """Load the adapter with peft onto the freshly loaded base model."""
        return cls(config, item_texts, tokenizer, model, adapter_dir=directory / ADAPTER_DIR)


@register_tuner
class LoraTuner(PeftTuner):
    """LoRA adapters; the base model stays frozen."""

    config_class = LoraTunerConfig
