"""`full`: every weight of the language model trains; the reference PEFT is compared with."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.peft.base import ItemTuner, TunerConfig, pooled
from shelflm.encoders.peft.registry import register_tuner


@dataclass
class FullTunerConfig(TunerConfig):
    """Full fine-tuning: no extra knobs beyond the shared ones."""

    method = "full"


@register_tuner
class FullTuner(ItemTuner):
    """The whole language model trains; saves all its weights (~90 MB for MiniLM)."""

    config_class = FullTunerConfig

    def __init__(self, config: FullTunerConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        super().__init__(config, item_texts, tokenizer, model)
        self.model = model.requires_grad_(True)

    def _encode_items(self, idx: torch.Tensor) -> torch.Tensor:
        return pooled(self.model, self.item_batch(idx), self.config.normalize)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Vectors of texts outside the catalog through the tuned model."""
        size = self.config.batch_size
        chunks = [pooled(self.model, self.tokenize(texts[s:s + size]), self.config.normalize)
                  for s in range(0, len(texts), size)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.d_out)
