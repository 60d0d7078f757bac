"""`lora`: low-rank adapters on the attention projections, through the peft library.

`PeftTuner` holds what every peft-based method shares (wrapping, saving with peft's
save_pretrained, reloading with PeftModel.from_pretrained); `LoraTuner` is the plain method.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.peft.base import WholeModelTuner, base_model_reference
from shelflm.encoders.peft.config import LoraTunerConfig, TunerConfig

ADAPTER_DIR = "adapter"


def lora_peft_config(config: LoraTunerConfig) -> PeftConfig:
    """The peft library's config for a `lora` tuner."""
    return LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), bias="none")


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
        """The peft config to wrap `model` with; each peft-based method supplies its own."""
        raise NotImplementedError

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


class LoraTuner(PeftTuner):
    """LoRA adapters; the base model stays frozen."""

    config_class = LoraTunerConfig

    def make_peft_config(self, model: PreTrainedModel) -> PeftConfig:
        """LoRA on the configured modules of every layer."""
        return lora_peft_config(self.config)
