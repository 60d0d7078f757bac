"""The interface every fine-tuning method implements (`ItemTuner`); configs are in config.py.

A tuner owns the catalog's item texts (row i = item index i), the tokenizer and the language
model, and turns item indices into trainable vectors. Methods differ only in which weights
train and what they cache; the training loop sees the same module for all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import ClassVar

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.config import DEFAULT_MODEL
from shelflm.encoders.lm import (
    default_model_path,
    load_language_model,
    pool,
    resolve_model_path,
)
from shelflm.encoders.peft.config import TunerConfig

CONFIG_FILE = "tuner_config.json"
TEXTS_FILE = "item_texts.json"
WEIGHTS_FILE = "tuner.safetensors"


def resolve_base_model(reference: str, relative_to: Path | None = None) -> Path:
    """Directory of a base-model reference: 'default', an absolute path, or one under a dir."""
    path = resolve_model_path(reference, relative_to)
    return path if reference == DEFAULT_MODEL else path.resolve()


def base_model_reference(resolved: str, save_dir: Path) -> str:
    """How a saved config names its base model: 'default' or a path relative to `save_dir`."""
    if resolved == DEFAULT_MODEL:
        return DEFAULT_MODEL
    path = Path(resolved).resolve()
    if path == default_model_path().resolve():
        return DEFAULT_MODEL  # never write a site-packages path into an artifact
    return os.path.relpath(path, save_dir.resolve())


def pooled(model: torch.nn.Module, batch: dict[str, torch.Tensor], normalize: bool) -> torch.Tensor:
    """Mean-pooled (optionally L2-normalised) last hidden states of `model` on a tokenised
    batch: the trainable twin of TextEncoder's forward, through the same `lm.pool`."""
    return pool(model(**batch).last_hidden_state, batch["attention_mask"], "mean", normalize)


class ItemTuner(torch.nn.Module):
    """Trainable item vectors from item text; one subclass per fine-tuning method."""

    config_class: ClassVar[type[TunerConfig]] = TunerConfig

    def __init__(self, config: TunerConfig, item_texts: list[str],
                 tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ValueError(f"{type(self).__name__} needs a {self.config_class.__name__}, "
                             f"got {type(config).__name__}")
        texts = list(item_texts)
        if not texts:
            raise ValueError(f"{type(self).__name__}: the catalog has no item texts")
        for i, text in enumerate(texts):
            # An empty text is a real catalog row (a product without a title): it gets the
            # model's vector of an empty input, as the frozen-vector path gives it.
            if not isinstance(text, str):
                raise ValueError(f"{type(self).__name__}: item text {i} is not a str: "
                                 f"{text!r}")
        self.config, self.item_texts, self.tokenizer = config, texts, tokenizer
        self.d_in = int(model.config.hidden_size)
        # Tokenise the catalog once; a batch takes rows and trims the shared padding.
        tokens = self.tokenize(texts)
        for name, tensor in tokens.items():
            self.register_buffer(f"_item_{name}", tensor, persistent=False)
        self._token_names = list(tokens)

    # --- what each method supplies -------------------------------------------------------
    @property
    def d_out(self) -> int:
        """Dimension of the vectors this tuner returns."""
        return self.d_in

    def _encode_items(self, idx: torch.Tensor) -> torch.Tensor:
        """(B,) unique item indices -> (B, d_out) vectors."""
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Vectors of texts outside the catalog (new items, queries), without any cache."""
        raise NotImplementedError

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The tensors that make this tuner differ from its base model (saved, and hashed)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def _save_weights(self, directory: Path) -> None:
        save_file({k: v.contiguous() for k, v in self.adapter_state().items()},
                  str(directory / WEIGHTS_FILE))

    def _load_weights(self, directory: Path) -> None:
        path = directory / WEIGHTS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: no {WEIGHTS_FILE} "
                                    f"(not a saved {self.config.method} tuner)")
        state = load_file(str(path))
        self.load_state_dict(state, strict=False)  # only the adapter keys; checked below
        expected = set(self.adapter_state())
        if set(state) != expected:
            raise ValueError(f"{path}: weights do not match the {self.config.method} config "
                             f"(missing {sorted(expected - set(state))[:5]}, "
                             f"unexpected {sorted(set(state) - expected)[:5]})")

    def extra_loss(self) -> torch.Tensor:
        """A term to add to the training loss (AdaLoRA's orthogonal regulariser; 0 otherwise)."""
        return torch.zeros((), device=self._item_input_ids.device)

    def after_optimizer_step(self, step: int) -> None:
        """Hook to call after each optimiser step, before zero_grad (AdaLoRA reallocates ranks)."""

    # --- shared behaviour ----------------------------------------------------------------
    @property
    def num_items(self) -> int:
        return len(self.item_texts)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded, truncated token tensors for `texts` (on this tuner's device)."""
        enc = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.config.max_length, return_tensors="pt")
        device = self._item_input_ids.device if hasattr(self, "_item_input_ids") else "cpu"
        return {k: v.to(device) for k, v in enc.items()}

    def item_batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Token tensors of catalog items `idx`, trimmed to the longest of them."""
        mask = self._item_attention_mask[idx]
        width = int(mask.sum(1).max())
        return {n: getattr(self, f"_item_{n}")[idx, :width] for n in self._token_names}

    def forward(self, item_idx: torch.Tensor) -> torch.Tensor:
        """Trainable vectors of items `item_idx` (any shape) -> (*item_idx.shape, d_out)."""
        if item_idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"item_idx must be an integer tensor, got {item_idx.dtype}")
        flat = item_idx.reshape(-1).to(self._item_input_ids.device)
        if flat.numel() == 0:
            return self.encode_texts([]).reshape(*item_idx.shape, self.d_out)
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.num_items):
            bad = flat[(flat < 0) | (flat >= self.num_items)][0]
            raise ValueError(f"item index {int(bad)} out of range for a catalog of "
                             f"{self.num_items} items")
        # Histories repeat items; encode each distinct one once.
        unique, inverse = torch.unique(flat, return_inverse=True)
        vectors = self._encode_items(unique)[inverse]
        return vectors.reshape(*item_idx.shape, vectors.shape[-1])

    def all_items(self) -> torch.Tensor:
        """(num_items, d_out) vectors of the whole catalog, computed in batches."""
        idx = torch.arange(self.num_items, device=self._item_input_ids.device)
        return torch.cat([self._encode_items(chunk) for chunk in idx.split(self.config.batch_size)])

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters an optimiser should update."""
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    @property
    def num_total(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def trainable_fraction(self) -> float:
        return self.num_trainable / self.num_total

    @property
    def identity(self) -> str:
        """Hash of the config and adapter weights: a vector cache key that changes with training."""
        digest = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        for name, tensor in sorted(self.adapter_state().items()):
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:16]

    def save(self, directory: str | Path) -> Path:
        """Write config JSON, item texts and safetensors weights; the base model by reference."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = self.config.to_dict()
        data["base_model"] = base_model_reference(self.config.base_model, directory)
        (directory / CONFIG_FILE).write_text(json.dumps(data, indent=2) + "\n")
        (directory / TEXTS_FILE).write_text(json.dumps(self.item_texts, ensure_ascii=False))
        self._save_weights(directory)
        return directory

    @classmethod
    def build(cls, config: TunerConfig, item_texts: list[str]) -> ItemTuner:
        """A fresh tuner: load the base model offline and set up the method."""
        tokenizer, model = load_language_model(resolve_base_model(config.base_model))
        return cls(config, item_texts, tokenizer, model)

    @classmethod
    def from_saved(cls, config: TunerConfig, item_texts: list[str],
                   tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
                   directory: Path) -> ItemTuner:
        """Rebuild from a saved directory (peft-based methods override this to use peft)."""
        tuner = cls(config, item_texts, tokenizer, model)
        tuner._load_weights(directory)
        return tuner


class WholeModelTuner(ItemTuner):
    """A tuner whose vectors come from running its (adapted) `self.model` end to end:
    full fine-tuning and the peft adapters share this path."""

    def _encode_items(self, idx: torch.Tensor) -> torch.Tensor:
        return pooled(self.model, self.item_batch(idx), self.config.normalize)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Vectors of texts outside the catalog through the tuned model."""
        size = self.config.batch_size
        chunks = [pooled(self.model, self.tokenize(texts[s:s + size]), self.config.normalize)
                  for s in range(0, len(texts), size)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.d_out)
