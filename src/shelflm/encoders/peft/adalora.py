"""`adalora`: LoRA whose rank budget is reallocated during training (AdaLoRA), via peft.

Two things peft leaves to the caller for an encoder (AutoModel without labels): the rank
budget needs `update_and_allocate(step)` after every optimiser step, and the orthogonal
regulariser on P and Q is only added inside peft's forward when the model returns a loss,
which an encoder never does. `extra_loss()` computes it the same way for the training loop.
"""

from __future__ import annotations

import torch
from peft import AdaLoraConfig, PeftConfig
from transformers import PreTrainedModel

from shelflm.encoders.peft.config import AdaLoraTunerConfig
from shelflm.encoders.peft.lora import PeftTuner


def adalora_peft_config(config: AdaLoraTunerConfig) -> PeftConfig:
    """The peft library's config for an `adalora` tuner."""
    return AdaLoraConfig(init_r=config.init_r, target_r=config.target_r, tinit=config.tinit,
                         tfinal=config.tfinal, deltaT=config.delta_t, beta1=config.beta1,
                         beta2=config.beta2, orth_reg_weight=config.orth_reg_weight,
                         total_step=config.total_step, lora_alpha=config.alpha,
                         lora_dropout=config.dropout, target_modules=list(config.target_modules))


class AdaLoraTuner(PeftTuner):
    """AdaLoRA adapters with the regulariser and rank reallocation wired in."""

    config_class = AdaLoraTunerConfig

    def make_peft_config(self, model: PreTrainedModel) -> PeftConfig:
        """AdaLoRA on the configured modules of every layer."""
        return adalora_peft_config(self.config)

    def extra_loss(self) -> torch.Tensor:
        """orth_reg_weight * mean over P, Q of ||P P^T - I||_F (as peft's AdaLoraModel.forward)."""
        adapter = self.model.base_model.trainable_adapter_name
        weight = self.model.peft_config[adapter].orth_reg_weight
        terms = []
        for name, p in self.model.named_parameters():
            if ("lora_A" in name or "lora_B" in name) and adapter in name and p.numel():
                cov = p @ p.T if "lora_A" in name else p.T @ p
                eye = torch.eye(*cov.shape, dtype=cov.dtype, device=cov.device)
                terms.append(torch.linalg.matrix_norm(cov - eye, ord="fro"))
        if not terms:
            return super().extra_loss()
        return weight * torch.stack(terms).mean()

    def after_optimizer_step(self, step: int) -> None:
        """Update importance scores and the rank budget; call before zero_grad (needs grads)."""
        self.model.base_model.update_and_allocate(step)
