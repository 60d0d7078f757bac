"""The cross-encoder ranker: a language model reads "history text [SEP] candidate text"
together, so it sees interactions between the two that a dot product of two vectors cannot.

Two heads on the mean-pooled last layer: a like logit (trained with BCE: will this shopper
like / click the candidate) and a rating (MSE). With `prior` the like logit starts from a
first-stage log-odds each case brings (text/history.py PairTexts.prior: the history's share
of liked events, or the retrieval model's standardised score when reranking), and the LM's
part is added to it (its head starts at zero), so a few labelled cases refine a sensible
prior instead of learning it from nothing. Tuning: peft LoRA on the attention projections, the
head alone, or the whole LM.
"""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.lm import mean_pool
from shelflm.encoders.peft.config import LoraTunerConfig
from shelflm.models.cross_config import CrossEncoderConfig


class CrossEncoder(torch.nn.Module):
    """LM + like head + rating head over (history text, candidate text) pairs."""

    def __init__(self, config: CrossEncoderConfig, tokenizer: PreTrainedTokenizerBase,
                 lm: PreTrainedModel) -> None:
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        if config.tuning == "lora":
            targets = list(LoraTunerConfig().target_modules)
            lm = get_peft_model(lm, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                               lora_dropout=config.lora_dropout,
                                               target_modules=targets, bias="none"))
        elif config.tuning == "head":
            lm.requires_grad_(False)
        self.lm = lm
        width = lm.config.hidden_size
        self.like = torch.nn.Linear(width, 1)
        self.rating = torch.nn.Linear(width, 1)
        torch.nn.init.zeros_(self.like.weight)
        torch.nn.init.zeros_(self.like.bias)
        self.prior_weight = torch.nn.Parameter(torch.tensor(
            1.0 if config.prior else 0.0), requires_grad=config.prior)

    def tokenize(self, histories: list[str], candidates: list[str]
                 ) -> tuple[dict[str, torch.Tensor], int]:
        """The pairs as one padded batch, and how many had to be cut to max_length."""
        if len(histories) != len(candidates):
            raise ValueError(f"{len(histories)} histories but {len(candidates)} candidates")
        cut = self.config.candidate_chars
        candidates = [str(c)[:cut] for c in candidates]
        full = self.tokenizer(histories, candidates, truncation=False)
        truncated = sum(len(ids) > self.config.max_length for ids in full["input_ids"])
        if not truncated:  # the usual case: pad what is there, no second tokenisation
            return dict(self.tokenizer.pad(full, return_tensors="pt")), 0
        batch = self.tokenizer(histories, candidates, truncation="longest_first",
                               max_length=self.config.max_length, padding=True,
                               return_tensors="pt")
        return dict(batch), truncated

    def forward(self, batch: dict[str, torch.Tensor], prior: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(like logits, ratings), each (B,); `prior` is each case's first-stage log-odds."""
        hidden = self.lm(**batch).last_hidden_state
        pooled = mean_pool(hidden, batch["attention_mask"])
        logits = self.like(pooled).squeeze(-1) + self.prior_weight * prior
        return logits, self.rating(pooled).squeeze(-1)

    def own_state(self) -> dict[str, torch.Tensor]:
        """What training changes (and an artifact stores): every trainable tensor, the heads
        and the prior weight; the frozen base LM is not in it."""
        return {name: p.detach().clone() for name, p in self.named_parameters()
                if p.requires_grad or not name.startswith("lm.")}

    def trainable(self) -> list[torch.nn.Parameter]:
        """The weights an optimiser should update (LoRA or heads or all)."""
        return [p for p in self.parameters() if p.requires_grad]
