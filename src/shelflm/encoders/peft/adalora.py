"""`adalora`: LoRA whose rank budget is reallocated during training (AdaLoRA), via peft.

Two things peft leaves to the caller for an encoder (AutoModel without labels): the rank
budget needs `update_and_allocate(step)` after every optimiser step, and the orthogonal
regulariser on P and Q is only added inside peft's forward when the model returns a loss,
which an encoder never does. `extra_loss()` computes it the same way for the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from peft import AdaLoraConfig, PeftConfig

from shelflm.encoders.peft.base import TunerConfig
from shelflm.encoders.peft.lora import ATTENTION, PeftTuner, check_lora_fields
from shelflm.encoders.peft.registry import register_tuner


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

    def peft_config(self) -> PeftConfig:
        """The peft library's config for this method."""
        return AdaLoraConfig(init_r=self.init_r, target_r=self.target_r, tinit=self.tinit,
                             tfinal=self.tfinal, deltaT=self.delta_t, beta1=self.beta1,
                             beta2=self.beta2, orth_reg_weight=self.orth_reg_weight,
                             total_step=self.total_step, lora_alpha=self.alpha,
                             lora_dropout=self.dropout, target_modules=list(self.target_modules))


@register_tuner
class AdaLoraTuner(PeftTuner):
    """AdaLoRA adapters with the regulariser and rank reallocation wired in."""

    config_class = AdaLoraTunerConfig

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
