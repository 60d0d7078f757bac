"""`full`: every weight of the language model trains; the reference PEFT is compared with."""

from __future__ import annotations

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.peft.base import WholeModelTuner
from shelflm.encoders.peft.config import FullTunerConfig


class FullTuner(WholeModelTuner):
    """The whole language model trains; saves all its weights (~90 MB for MiniLM)."""

    config_class = FullTunerConfig

    def __init__(self, config: FullTunerConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        super().__init__(config, item_texts, tokenizer, model)
        self.model = model.requires_grad_(True)

