"""`top_layers`: only the top k transformer layers train; the states below them are cached.

For every catalog item the token states entering layer L-k (and their count) are computed
once, so a training step runs k layers instead of L. By default the top layers carry LoRA
adapters (rank 8 on all their linear projections, ~0.25% of MiniLM per layer); with
`lora_rank=0` the k layers train in full (~7.8% of MiniLM per layer, beyond a PEFT budget).
Needs a BERT-style encoder (`model.embeddings`, `model.encoder.layer`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.masking_utils import create_bidirectional_mask

from shelflm.encoders.lm import pool
from shelflm.encoders.peft.base import ItemTuner
from shelflm.encoders.peft.config import TopLayersConfig, TunerConfig
from shelflm.encoders.peft.lora import ADAPTER_DIR, PeftTuner


def top_layers_peft_config(config: TopLayersConfig, num_hidden_layers: int) -> PeftConfig:
    """LoRA restricted to the top `config.num_layers` of a model with `num_hidden_layers`."""
    top = list(range(num_hidden_layers - config.num_layers, num_hidden_layers))
    return LoraConfig(r=config.lora_rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), layers_to_transform=top,
                      layers_pattern="layer", bias="none")


def run_layers(config: object, layers: list[torch.nn.Module], hidden: torch.Tensor,
               attention_mask: torch.Tensor) -> torch.Tensor:
    """Run `hidden` (B, T, d) through `layers` with the model's own attention-mask format."""
    mask = create_bidirectional_mask(config=config, inputs_embeds=hidden,
                                     attention_mask=attention_mask)
    for layer in layers:
        hidden = layer(hidden, mask)
    return hidden


class TopLayersTuner(PeftTuner):
    """Cached states below layer L-k; LoRA (or full) training of the top k layers."""

    config_class = TopLayersConfig

    def __init__(self, config: TopLayersConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
                 adapter_dir: Path | None = None) -> None:
        if not hasattr(model, "encoder") or not hasattr(model.encoder, "layer"):
            raise ValueError(f"top_layers needs a BERT-style encoder (model.encoder.layer); "
                             f"{type(model).__name__} has none")
        total = len(model.encoder.layer)
        if config.num_layers > total:
            raise ValueError(f"TopLayersConfig.num_layers={config.num_layers} but the model has "
                             f"only {total} layers")
        if config.lora_rank:
            super().__init__(config, item_texts, tokenizer, model, adapter_dir)
        else:  # full top layers: plain torch weights, no peft wrapper
            ItemTuner.__init__(self, config, item_texts, tokenizer, model)
            self.prepare_base(model)
            self.model = model
            for layer in model.encoder.layer[self.cut:]:
                layer.requires_grad_(True)

    def make_peft_config(self, model: PreTrainedModel) -> PeftConfig:
        """LoRA on the top k layers only."""
        return top_layers_peft_config(self.config, len(model.encoder.layer))

    def prepare_base(self, model: PreTrainedModel) -> None:
        """Freeze the model and cache, per item, its token states entering layer L-k."""
        model.requires_grad_(False).eval()
        self.cut = len(model.encoder.layer) - self.config.num_layers
        self.backbone = [model]  # a list: keep a handle without registering it twice
        states, lengths = [], []
        idx = torch.arange(self.num_items)
        with torch.no_grad():
            for chunk in idx.split(self.config.batch_size):
                batch = self.item_batch(chunk)
                hidden = self._bottom(batch)
                mask = batch["attention_mask"].bool()
                states.append(hidden[mask])  # ragged: only real tokens, no padding stored
                lengths.append(mask.sum(1))
        lengths = torch.cat(lengths)
        offsets = torch.zeros(self.num_items + 1, dtype=torch.long)
        offsets[1:] = lengths.cumsum(0)
        self.register_buffer("cached_states", torch.cat(states), persistent=False)
        self.register_buffer("cached_offsets", offsets, persistent=False)

    def _bottom(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        model = self.backbone[0]
        hidden = model.embeddings(input_ids=batch["input_ids"],
                                  token_type_ids=batch.get("token_type_ids"))
        return run_layers(model.config, list(model.encoder.layer[:self.cut]), hidden,
                          batch["attention_mask"])

    def _encode_items(self, idx: torch.Tensor) -> torch.Tensor:
        start = self.cached_offsets[idx]
        lengths = self.cached_offsets[idx + 1] - start
        width = int(lengths.max())
        positions = torch.arange(width, device=idx.device)
        attention_mask = (positions < lengths[:, None]).long()
        # Gather each item's token states into a (B, width, d) block; padding rows read token 0
        # and are masked out of attention and pooling.
        rows = torch.where(attention_mask.bool(), start[:, None] + positions, 0)
        hidden = self.cached_states[rows]
        model = self.backbone[0]
        hidden = run_layers(model.config, list(model.encoder.layer[self.cut:]), hidden,
                            attention_mask)
        return pool(hidden, attention_mask, "mean", self.config.normalize)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """LoRA weights via peft, or the full top layers' weights."""
        if self.config.lora_rank:
            return super().adapter_state()
        return ItemTuner.adapter_state(self)

    def _save_weights(self, directory: Path) -> None:
        if self.config.lora_rank:
            super()._save_weights(directory)
        else:
            ItemTuner._save_weights(self, directory)

    @classmethod
    def from_saved(cls, config: TunerConfig, item_texts: list[str],
                   tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
                   directory: Path) -> ItemTuner:
        """peft adapter when LoRA was used, else the saved top-layer weights."""
        if config.lora_rank:
            return cls(config, item_texts, tokenizer, model, adapter_dir=directory / ADAPTER_DIR)
        tuner = cls(config, item_texts, tokenizer, model)
        tuner._load_weights(directory)
        return tuner
