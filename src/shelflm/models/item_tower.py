"""The item tower: language-model item vectors through a trainable head, plus optional IDs.

An item's vector is `text_head(lm_vector)` (+ `id_embedding`, weighted by the item's
evidence: 0 without training events, and with `id_gate` n / (n + id_gate) for n events).
An item with no text at all has no text part: its ID part scores it where it has training
events, and without any its vector is zero (score 0 for every user: neutral, not the
reading of an empty string that every textless item would share).
The ID part is dropped at random while training (ID dropout), so the text path alone
produces useful vectors: a cold item (no training interactions) is scored from text only.
The LM vectors are computed once by the frozen model and cached, so a training step runs
only the small head (the cheap CPU path of ../shared/DESIGN.md).
With `modalities` (images, numbers, a second text) the text part is joined by each
modality's gated part (models/modality_fusion.py); without, the vectors are as before.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shelflm.models.config import ItemTowerConfig
from shelflm.models.modality_fusion import GatedFusion


class WhitenedLinearHead(nn.Module):
    """Fixed PCA whitening of LM vectors followed by a trainable linear map to `hidden`."""

    def __init__(self, d_in: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("whitening", torch.eye(d_in))
        self.linear = nn.Linear(d_in, hidden)

    def fit_whitening(self, vectors: torch.Tensor, eps: float = 1e-3) -> None:
        """Set mean and whitening matrix from the catalog's LM vectors (n, d_in)."""
        mean = vectors.mean(0)
        cov = torch.cov((vectors - mean).T)
        eigval, eigvec = torch.linalg.eigh(cov)
        self.mean.copy_(mean)
        self.whitening.copy_(eigvec / torch.sqrt(eigval.clamp(min=0) + eps))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., d_in) LM vectors -> (..., hidden)."""
        # Fold the whitening into the linear map: one (d_in x hidden) product per item
        # instead of a (d_in x d_in) one, which dominated a training step on big catalogs.
        weight = self.linear.weight @ self.whitening.T
        bias = self.linear.bias - weight @ self.mean
        return vectors @ weight.T + bias


class MoEWhitenedHead(nn.Module):
    """UniSRec's MoE adaptor (Hou et al., KDD 2022): `experts` learned whitenings
    (x - b_k) W_k of the LM vector, mixed by a softmax gate over x. Nothing in it is a
    statistic of one catalog, so it carries to items and catalogs it never saw."""

    def __init__(self, d_in: int, hidden: int, experts: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(experts, d_in))
        self.weight = nn.Parameter(torch.empty(experts, d_in, hidden))
        nn.init.xavier_uniform_(self.weight.view(experts * d_in, hidden))
        self.gate = nn.Linear(d_in, experts, bias=False)
        nn.init.zeros_(self.gate.weight)  # an even mixture to start with

    def fit_whitening(self, vectors: torch.Tensor) -> None:
        """Start every expert's centre at the catalog's mean LM vector (then learned)."""
        self.bias.data.copy_(vectors.mean(0).expand_as(self.bias))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., d_in) LM vectors -> (..., hidden)."""
        k, d, h = self.weight.shape
        mixed = (vectors @ self.weight.permute(1, 0, 2).reshape(d, k * h)).unflatten(-1, (k, h))
        mixed = mixed - torch.einsum("kd,kdh->kh", self.bias, self.weight)
        return (torch.softmax(self.gate(vectors), -1).unsqueeze(-1) * mixed).sum(-2)


def id_weights(counts: np.ndarray, gate: float) -> np.ndarray:
    """Weight of each item's ID part from its training event count: 0 without events; 1
    with them (gate 0), else n / (n + gate)."""
    counts = np.asarray(counts, dtype=np.float32)
    if gate <= 0:
        return (counts > 0).astype(np.float32)
    return counts / (counts + np.float32(gate))


def text_mask(lm_vectors: torch.Tensor) -> torch.Tensor:
    """1.0 for rows with an LM vector, 0.0 for zero rows (items whose text is empty)."""
    return (lm_vectors.abs().sum(-1) > 0).float()


class ItemTower(nn.Module):
    """Item vectors for the whole catalog (row i = item index i) in the retrieval space."""

    def __init__(
        self,
        config: ItemTowerConfig,
        num_items: int,
        text_vectors: np.ndarray | torch.Tensor | None = None,
        has_id: np.ndarray | torch.Tensor | None = None,
        tuner: nn.Module | None = None,
        modality_inputs: dict[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.num_items = num_items
        self.tuner = tuner
        if tuner is not None:
            # A PEFT ItemTuner (encoders.peft: adaptor, lora, ...) makes the text part; a
            # linear map takes its vectors to the model's width.
            if not config.use_text:
                raise ValueError("ItemTower: a tuner is a text path; set use_text=True")
            if tuner.num_items != num_items:
                raise ValueError(f"ItemTower: tuner has {tuner.num_items} items, not {num_items}")
            self.tuner_proj = nn.Linear(tuner.d_out, config.hidden)
        elif config.use_text:
            if text_vectors is None:
                raise ValueError("ItemTower: use_text=True needs text_vectors (num_items, d)")
            tv = torch.as_tensor(np.asarray(text_vectors), dtype=torch.float32)
            if tv.ndim != 2 or tv.shape[0] != num_items:
                raise ValueError(
                    f"ItemTower: text_vectors has shape {tuple(tv.shape)}, "
                    f"expected ({num_items}, d)"
                )
            # Not saved in model.safetensors: the artifact keeps final item vectors instead.
            self.register_buffer("text_vectors", tv, persistent=False)
            # An item with no text has a zero LM vector (TextEncoder.encode): no text part.
            self.register_buffer("has_text", text_mask(tv), persistent=False)
            if config.head == "moe":
                self.text_head = MoEWhitenedHead(tv.shape[1], config.hidden, config.experts)
            else:
                self.text_head = WhitenedLinearHead(tv.shape[1], config.hidden)
            if config.whiten:
                self.text_head.fit_whitening(tv[self.has_text > 0] if self.has_text.any() else tv)
        if config.use_id:
            self.id_embedding = nn.Embedding(num_items, config.hidden)
            nn.init.normal_(self.id_embedding.weight, std=0.02 if config.use_text else 0.1)
            # The weight of each item's ID part (id_weights; 0: no ID). The name is older
            # than the weights: saved artifacts hold a 0/1 `has_id`, which reads the same.
            known = torch.ones(num_items) if has_id is None else torch.as_tensor(has_id).float()
            if known.shape != (num_items,):
                raise ValueError(f"ItemTower: has_id must have shape ({num_items},)")
            self.register_buffer("has_id", known)
        self.fusion = self._fusion(modality_inputs) if config.modalities else None

    def _fusion(self, inputs: dict[str, np.ndarray] | None) -> GatedFusion:
        """The gated fusion of `config.modalities` over the catalog's raw inputs (None: a
        placeholder where no item has any, as when an artifact is read back)."""
        if not self.config.use_text:
            raise ValueError("ItemTower: modalities join the text part; set use_text=True")
        fusion = GatedFusion(self.config.modalities, self.config.hidden)
        given = {} if inputs is None else inputs
        tensors = {}
        for name, m in fusion.configs.items():
            x = (torch.as_tensor(np.asarray(given[name]), dtype=torch.float32) if name in given
                 else torch.full((self.num_items, m.width), float("nan")))
            if x.shape != (self.num_items, m.width):
                raise ValueError(f"ItemTower: modality {name} inputs have shape "
                                 f"{tuple(x.shape)}, expected ({self.num_items}, {m.width})")
            # Not saved in model.safetensors: the artifact keeps them in modalities.safetensors.
            self.register_buffer(f"modality_{name}", x, persistent=False)
            tensors[name] = x
        if inputs is not None:
            fusion.fit_statistics(tensors)
        return fusion

    def _fused(self, text: torch.Tensor, item_idx: torch.Tensor | None) -> torch.Tensor:
        """The text part joined by the catalog rows' modalities (unchanged without any)."""
        if self.fusion is None:
            return text
        rows = slice(None) if item_idx is None else item_idx
        return self.fusion(text, {name: getattr(self, f"modality_{name}")[rows]
                                  for name in self.fusion.configs})

    @property
    def text_dim(self) -> int:
        """Width of the LM vectors the text head expects (0 without a text path)."""
        if self.tuner is not None or not self.config.use_text:
            return 0
        return self.text_vectors.shape[1]

    def _text_rows(self, item_idx: torch.Tensor | None) -> torch.Tensor:
        """Text part of the rows `item_idx` (None: every item)."""
        if self.tuner is not None:
            vectors = self.tuner.all_items() if item_idx is None else self.tuner(item_idx)
            return self.tuner_proj(vectors)
        rows = slice(None) if item_idx is None else item_idx
        return self.text_head(self.text_vectors[rows]) * self.has_text[rows].unsqueeze(-1)

    def all_items(self, text_only: bool = False) -> torch.Tensor:
        """(num_items, hidden) vectors; ID dropout applies only in training mode.

        `text_only` leaves the ID part out: every item as a cold item would be scored.
        """
        out = torch.zeros(self.num_items, self.config.hidden, device=self._device())
        if self.config.use_text:
            out = out + self._fused(self._text_rows(None), None)
        elif text_only:
            raise ValueError("ItemTower: text_only vectors need a text path (use_text=True)")
        if self.config.use_id and not text_only:
            keep = self.has_id
            if self.training and self.config.use_text and self.config.id_dropout > 0:
                keep = keep * (torch.rand_like(keep) >= self.config.id_dropout).float()
            out = out + self.id_embedding.weight * keep.unsqueeze(-1)
            if not self.training and self.config.cold_id_neighbours and not text_only:
                out = out + self._borrowed_ids()
        return out

    def _borrowed_ids(self) -> torch.Tensor:
        """(num_items, hidden): for items without an ID, their text neighbours' mean ID."""
        out = torch.zeros(self.num_items, self.config.hidden, device=self._device())
        if self.tuner is not None or not self.config.use_text:
            return out  # neighbours are found by cached LM vectors (the plain text path)
        cold = (self.has_id == 0).nonzero().flatten()
        warm = (self.has_id > 0).nonzero().flatten()
        if len(cold) == 0 or len(warm) == 0:
            return out
        k = min(self.config.cold_id_neighbours, len(warm))
        text = torch.nn.functional.normalize(self.text_vectors, dim=-1)
        for part in cold.split(4096):  # bounded (part x warm) similarity blocks
            near = (text[part] @ text[warm].T).topk(k, dim=1).indices
            out[part] = self.id_embedding.weight[warm[near]].mean(1)
        return out

    def forward(self, item_idx: torch.Tensor) -> torch.Tensor:
        """(...) item indices -> (..., hidden) vectors, computing only those rows."""
        out = torch.zeros(*item_idx.shape, self.config.hidden, device=self._device())
        if self.config.use_text:
            out = out + self._fused(self._text_rows(item_idx), item_idx)
        if self.config.use_id:
            keep = self.has_id[item_idx]
            if self.training and self.config.use_text and self.config.id_dropout > 0:
                keep = keep * (torch.rand_like(keep) >= self.config.id_dropout).float()
            out = out + self.id_embedding(item_idx) * keep.unsqueeze(-1)
        return out

    def encode_text_vectors(self, lm_vectors: torch.Tensor,
                            modality_inputs: dict[str, torch.Tensor] | None = None
                            ) -> torch.Tensor:
        """Vectors of new items from their LM vectors (no ID: they have no history) and the
        raw inputs of their modalities (models/modality_inputs.py; absent: missing)."""
        if not self.config.use_text:
            raise ValueError("ItemTower: this model has no text path (ID-only); it cannot "
                             "encode new items")
        text = self.text_head(lm_vectors) * text_mask(lm_vectors).unsqueeze(-1)
        return self._fused_new(text, modality_inputs)

    def encode_texts(self, texts: list[str],
                     modality_inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Vectors of new items from their text through the tuner (tuner-based towers only)."""
        if self.tuner is None:
            raise ValueError("ItemTower: no tuner; encode LM vectors with encode_text_vectors")
        return self._fused_new(self.tuner_proj(self.tuner.encode_texts(texts)), modality_inputs)

    def _fused_new(self, text: torch.Tensor, inputs: dict[str, torch.Tensor] | None
                   ) -> torch.Tensor:
        if self.fusion is None:
            return text
        return self.fusion(text, inputs or {})

    def _device(self) -> torch.device:
        return next(self.parameters()).device
