"""`adaptor`: the language model frozen, its item vectors cached, a small trainable head on top.

The head is UniSRec's parametric whitening, (x - b) W, as one expert or as a mixture of
experts mixed by a softmax gate. It is the cheapest method: a training step never runs the
language model, only a matrix product per item.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import TextEncoder
from shelflm.encoders.peft.base import ItemTuner
from shelflm.encoders.peft.config import AdaptorConfig


class WhiteningExperts(torch.nn.Module):
    """K parametric-whitening experts (x - b_k) W_k mixed by a softmax gate (no gate if K=1)."""

    def __init__(self, d_in: int, d_out: int, num_experts: int, dropout: float,
                 gate_noise: bool) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(num_experts, d_in))
        weight = torch.empty(num_experts, d_in, d_out)
        for k in range(num_experts):
            # Start every expert as the identity (or a slice of it) so untrained vectors are
            # the language model's own: cold-start quality does not drop at step 0.
            weight[k] = torch.eye(d_in, d_out) + 0.01 * torch.randn(d_in, d_out)
        self.weight = torch.nn.Parameter(weight)
        self.dropout = torch.nn.Dropout(dropout)
        self.gate = torch.nn.Linear(d_in, num_experts, bias=False) if num_experts > 1 else None
        self.noise = (torch.nn.Linear(d_in, num_experts, bias=False)
                      if num_experts > 1 and gate_noise else None)
        if self.gate is not None:
            torch.nn.init.zeros_(self.gate.weight)  # equal mixing until the gate learns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d_in) -> (B, d_out)."""
        x = self.dropout(x)
        experts = torch.einsum("bkd,kde->bke", x.unsqueeze(1) - self.bias, self.weight)
        if self.gate is None:
            return experts[:, 0]
        logits = self.gate(x)
        if self.noise is not None and self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(self.noise(x))
        return (logits.softmax(-1).unsqueeze(-1) * experts).sum(1)


class AdaptorTuner(ItemTuner):
    """Cached frozen item vectors through a trainable whitening head."""

    config_class = AdaptorConfig

    def __init__(self, config: AdaptorConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        super().__init__(config, item_texts, tokenizer, model)
        self.model = model.requires_grad_(False).eval()
        self.head = WhiteningExperts(self.d_in, config.d_out or self.d_in, config.num_experts,
                                     config.dropout, config.gate_noise)
        # The frozen language model's vectors come from the one encode path. They are
        # normalised before the head, so the head sees the same cosine geometry whether the
        # catalog's vectors came from here or from elsewhere.
        self.frozen = TextEncoder(EncoderConfig(
            model=config.base_model, pooling="mean", normalize=True,
            max_length=config.max_length, batch_size=config.batch_size),
            loaded=(tokenizer, self.model))
        frozen = torch.from_numpy(self.frozen.encode(item_texts))
        self.register_buffer("item_base_vectors", frozen, persistent=False)

    @property
    def d_out(self) -> int:
        return self.config.d_out or self.d_in

    def train(self, mode: bool = True) -> AdaptorTuner:
        """Train the head; the frozen language model stays in eval mode (no dropout)."""
        super().train(mode)
        self.model.eval()
        return self

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(x)
        return F.normalize(out, dim=-1) if self.config.normalize else out

    def _encode_items(self, idx: torch.Tensor) -> torch.Tensor:
        return self._head(self.item_base_vectors[idx])

    def encode_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """The head on frozen LM vectors computed elsewhere (unit rows, as `frozen` makes)."""
        return self._head(vectors.to(self.item_base_vectors.device))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Vectors of texts outside the catalog: frozen LM (no grad) then the trainable head."""
        if not texts:
            return torch.empty(0, self.d_out)
        device = self.item_base_vectors.device
        return self._head(torch.from_numpy(self.frozen.encode(texts)).to(device))
