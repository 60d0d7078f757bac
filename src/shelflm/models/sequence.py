"""The user tower: a SASRec-style causal self-attention encoder over a behaviour sequence.

Written nanoGPT-style: one config dataclass, a block, and the encoder. Inputs are item vectors
(already in the model's hidden space) plus learned position and event-type embeddings; the
output at position t summarises items 0..t only, so the last position is the user vector.
Sequences are left-padded (the newest item always sits at the last position, as in SASRec).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from shelflm.models.config import SequenceEncoderConfig


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t sees positions <= t that are not padding."""

    def __init__(self, config: SequenceEncoderConfig) -> None:
        super().__init__()
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.proj = nn.Linear(config.hidden, config.hidden)
        self.heads = config.num_heads
        self.dropout = config.dropout
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, H) states and (B, L) validity -> (B, L, H)."""
        b, length, h = x.shape
        q, k, v = self.qkv(x).split(h, dim=2)
        q, k, v = (
            t.view(b, length, self.heads, h // self.heads).transpose(1, 2) for t in (q, k, v)
        )
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        allowed = causal & valid[:, None, None, :]
        # Every position may see itself, so a padding row never attends to nothing (NaN).
        allowed = allowed | torch.eye(length, dtype=torch.bool, device=x.device)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).reshape(b, length, h)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-norm transformer block: attention then a position-wise MLP, both residual."""

    def __init__(self, config: SequenceEncoderConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, H) -> (B, L, H); padding positions are zeroed so they carry nothing."""
        x = x + self.attn(self.ln1(x), valid)
        x = x + self.mlp(self.ln2(x))
        return x * valid.unsqueeze(-1)


class SequenceEncoder(nn.Module):
    """Causal transformer: (item vectors, event types) of a history -> a state per position."""

    def __init__(self, config: SequenceEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.position = nn.Embedding(config.max_len, config.hidden)
        self.event = nn.Embedding(config.num_event_types, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_blocks))
        self.ln_f = nn.LayerNorm(config.hidden)
        nn.init.normal_(self.position.weight, std=0.02)
        nn.init.normal_(self.event.weight, std=0.02)

    def forward(
        self, item_vectors: torch.Tensor, events: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """(B, L, H) left-padded item vectors, (B, L) event indices, (B, L) bool -> (B, L, H)."""
        b, length, _ = item_vectors.shape
        if length > self.config.max_len:
            raise ValueError(
                f"SequenceEncoder: sequence length {length} exceeds max_len {self.config.max_len}"
            )
        # Positions count from the left of a max_len window, so the newest item is always at
        # max_len - 1 whatever the batch is trimmed to (SASRec's convention).
        pos = torch.arange(self.config.max_len - length, self.config.max_len, device=events.device)
        x = item_vectors * math.sqrt(self.config.hidden) + self.position(pos) + self.event(events)
        x = self.drop(x) * valid.unsqueeze(-1)
        for block in self.blocks:
            x = block(x, valid)
        return self.ln_f(x)
