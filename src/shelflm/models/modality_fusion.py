"""Gated fusion of an item's extra modalities with its text part (ItemTowerConfig.modalities).

For each modality m with raw input x_m (models/modality_inputs.py: NaN = missing):

    z_m = proj_m(standardise(x_m))              the modality in the model's width
    g_m = sigmoid(gate_m([t ; z_m]))            per unit, from the text part t and z_m
    v   = t + sum_m present_m * g_m * z_m

so an item without m (present_m = 0) gets exactly nothing from it, and its vector is what the
text part alone makes. The gate lets the model weigh a modality per item by what the text
already says. Standardising uses statistics of the training catalog (buffers, saved with the
weights): per input column mean and spread, after log1p for price-like numeric fields; a
numeric modality also feeds a missing indicator per field, so "no rating" is not "rating 0".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shelflm.models.modality_config import ModalityConfig


class ModalityBranch(nn.Module):
    """One modality: standardisation statistics, projection to `hidden` and its gate."""

    def __init__(self, config: ModalityConfig, width: int, hidden: int) -> None:
        super().__init__()
        self.numeric = config.kind == "numeric"
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))
        logged = config.logged if self.numeric else (False,) * width
        self.register_buffer("logged", torch.tensor(logged, dtype=torch.bool), persistent=False)
        self.proj = nn.Linear(2 * width if self.numeric else width, hidden)
        self.gate = nn.Linear(2 * hidden, hidden)
        nn.init.zeros_(self.gate.weight)  # an even gate (0.5) to start with
        nn.init.zeros_(self.gate.bias)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Raw values with log1p applied where the field is price-like (NaN stays NaN)."""
        if not self.numeric or not bool(self.logged.any()):
            return x
        return torch.where(self.logged, torch.log1p(x.clamp(min=0)), x)

    @torch.no_grad()
    def fit_statistics(self, x: torch.Tensor) -> None:
        """Per column mean and spread over the finite values of the catalog's inputs (n, w)."""
        x = self._scaled(x)
        finite = torch.isfinite(x)
        count = finite.sum(0)
        values = torch.where(finite, x, torch.zeros_like(x))
        mean = values.sum(0) / count.clamp(min=1)
        var = (torch.where(finite, x - mean, torch.zeros_like(x)) ** 2).sum(0) / count.clamp(min=1)
        std = var.sqrt()
        # A column seen fewer than twice, or constant, is centred but not scaled.
        self.mean.copy_(mean)
        self.std.copy_(torch.where((count >= 2) & (std > 1e-6), std, torch.ones_like(std)))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., w) raw inputs -> (projected (..., hidden), present (...,) 0/1), NaN-free."""
        x = self._scaled(x)
        finite = torch.isfinite(x)
        z = torch.where(finite, (x - self.mean) / self.std, torch.zeros_like(x))
        if self.numeric:
            present = finite.any(-1)
            z = torch.cat([z, (~finite).float()], dim=-1)  # the missing indicators
        else:
            present = finite.all(-1) & (x.abs().sum(-1) > 0) if x.shape[-1] else finite.all(-1)
        return self.proj(z), present.float()

    def forward(self, text: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """This modality's gated contribution (..., hidden) given the text part."""
        z, present = self.features(x)
        gate = torch.sigmoid(self.gate(torch.cat([text, z], dim=-1)))
        return gate * z * present.unsqueeze(-1)


class GatedFusion(nn.Module):
    """All modalities of an item tower: v = t + sum_m present_m * g_m * proj_m(x_m)."""

    def __init__(self, modalities: Sequence[ModalityConfig], hidden: int) -> None:
        super().__init__()
        for m in modalities:
            if m.width <= 0:
                raise ValueError(f"GatedFusion: modality {m.name} has no width (set it from "
                                 "the data before building the tower)")
        self.configs = {m.name: m for m in modalities}
        self.branches = nn.ModuleDict({m.name: ModalityBranch(m, m.width, hidden)
                                       for m in modalities})

    def fit_statistics(self, inputs: dict[str, torch.Tensor]) -> None:
        """Standardisation statistics of each modality from the training catalog's inputs."""
        for name, branch in self.branches.items():
            branch.fit_statistics(inputs[name])

    def forward(self, text: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(..., hidden) text part plus each modality's gated part; a modality missing from
        `inputs` (or NaN rows) contributes nothing."""
        out = text
        for name, branch in self.branches.items():
            if name in inputs:
                out = out + branch(text, inputs[name].to(text.dtype))
        return out

    def missing_inputs(self, rows: int) -> dict[str, torch.Tensor]:
        """Inputs of `rows` items that carry none of the modalities (all NaN)."""
        return {name: torch.full((rows, m.width), float("nan"))
                for name, m in self.configs.items()}
