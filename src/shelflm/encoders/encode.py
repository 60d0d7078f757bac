"""The one text -> vectors path: tokenise, batch, run (PyTorch or ONNX), pool, normalise.

`TextEncoder(config).encode(texts)` is used by training, artifacts, serving, the PEFT
tuners' no-grad paths, benchmarks and tests alike, so every `EncoderConfig` field takes
effect everywhere. With `cache_dir` set, vectors are kept in an on-disk `VectorCache` keyed
by `identity` (model + every setting that changes vectors) and the text, so only texts not
seen before are encoded. Callers that render templates pass the rendered text (the template
is then part of the text); `namespace` may name the template as well.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.cache import VectorCache
from shelflm.encoders.config import EncoderConfig, OnnxOptions
from shelflm.encoders.lm import (
    check_texts,
    load_language_model,
    load_tokenizer,
    model_identity,
    padded_batches,
    pool,
    resolve_model_path,
    tokenize_texts,
    torch_threads,
)
from shelflm.encoders.onnx_encoder import Batch, OnnxRunner


class TorchRunner:
    """Runs token batches through the PyTorch model, then `lm.pool` (a TextEncoder backend)."""

    identity_suffix = ""
    onnx_path = None

    def __init__(self, config: EncoderConfig, model: PreTrainedModel,
                 device: str = "cpu") -> None:
        self.config, self.model, self.device = config, model.to(device), device
        self.dim = int(model.config.hidden_size)

    def running(self) -> AbstractContextManager[None]:
        """torch intra-op threads set to config.threads (None: unchanged), then restored."""
        return torch_threads(self.config.threads)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(B, T) int64 token ids and mask -> (B, d) float32 vectors."""
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention_mask).to(self.device)
        with torch.inference_mode():
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            vectors = pool(hidden, mask, self.config.pooling, self.config.normalize)
        return vectors.float().cpu().numpy()

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, vectors) per batch, one batch at a time."""
        for rows, inputs in batches:
            yield rows, self.forward(inputs["input_ids"], inputs["attention_mask"])


class TextEncoder:
    """Texts -> (n, d) float32 vectors in input order, as `config` says.

    `base_dir` resolves a relative `config.model` (an artifact names its model relative to
    itself); `onnx` tunes the ONNX runtimes; `calibration_texts` pick int8 outlier channels
    (None: synthetic text); `namespace` separates cache entries of one model and settings;
    `device` places the PyTorch model (e.g. "cuda" in benchmarks; vectors come back on CPU);
    `loaded` is a (tokenizer, model) pair already in memory for `config.model` (a PEFT
    tuner's frozen base), used instead of loading it again (PyTorch runtime only).
    """

    def __init__(self, config: EncoderConfig | None = None, base_dir: str | Path | None = None,
                 *, onnx: OnnxOptions | None = None, calibration_texts: list[str] | None = None,
                 namespace: str = "raw", device: str = "cpu",
                 loaded: tuple[PreTrainedTokenizerBase, PreTrainedModel] | None = None) -> None:
        self.config = config or EncoderConfig()
        self.model_path = resolve_model_path(self.config.model,
                                             Path(base_dir) if base_dir else None)
        if loaded is not None and self.config.runtime != "pytorch":
            raise ValueError(f"a loaded model runs on the pytorch runtime, not "
                             f"{self.config.runtime!r}")
        if self.config.runtime == "pytorch":
            self.tokenizer, model = loaded or load_language_model(self.model_path)
            self.backend: TorchRunner | OnnxRunner = TorchRunner(self.config, model, device)
        else:
            self.tokenizer = load_tokenizer(self.model_path)
            self.backend = OnnxRunner(self.config, self.model_path, self.tokenizer, onnx,
                                      calibration_texts)
        self.dim = self.backend.dim
        self.cache = (VectorCache(self.config.cache_dir, self.identity,
                                  template_identity=namespace)
                      if self.config.cache_dir else None)

    @cached_property
    def identity(self) -> str:
        """Model identity plus every setting that changes the vectors (for cache keys)."""
        c = self.config
        return (f"{model_identity(self.model_path)}|{c.pooling}|norm={c.normalize}"
                f"|len={c.max_length}{self.backend.identity_suffix}")

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX graph the vectors come from (None for the PyTorch runtime)."""
        return self.backend.onnx_path

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (with special tokens, cut at max_length), unpadded."""
        return tokenize_texts(self.tokenizer, list(texts), self.config.max_length)

    def batches(self, texts: Sequence[str]) -> Iterator[Batch]:
        """(row positions, padded int64 inputs) per batch, longest texts first when sorting."""
        for rows, ids, mask in padded_batches(self.tokenize(texts), self.tokenizer.pad_token_id,
                                              self.config.batch_size, self.config.sort_by_length):
            yield rows, {"input_ids": ids, "attention_mask": mask}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts` in input order: (n, d) float32 (cached ones read back). A text
        that is empty or only whitespace has no vector: its row is zero, not the LM's reading
        of nothing (which every textless item would share), so the item tower can tell."""
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows = [i for i, t in enumerate(texts) if t.strip()]
        if rows:
            some = [texts[i] for i in rows]
            out[rows] = (self.cache.encode(some, self._encode) if self.cache is not None
                         else self._encode(some))
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        show = 0 < self.config.progress_min_texts <= len(texts)
        with Progress(disable=not show, transient=True) as bar, self.backend.running():
            task = bar.add_task("encoding", total=len(texts))
            for rows, vectors in self.backend.run(self.batches(texts)):
                out[rows] = vectors
                bar.advance(task, len(rows))
        return out


def encode(texts: Sequence[str], config: EncoderConfig | None = None,
           base_dir: str | Path | None = None) -> np.ndarray:
    """One-shot `TextEncoder(config, base_dir).encode(texts)`: (n, d) float32, input order."""
    return TextEncoder(config, base_dir).encode(texts)


_SHARED: weakref.WeakValueDictionary[tuple[str, str], TextEncoder] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_encoder(config: EncoderConfig, base_dir: str | Path | None = None) -> TextEncoder:
    """The process's one TextEncoder of this model and these settings, built on first use
    and kept while anyone holds it: a server reloading another version of the same LM reuses
    the live one's (no second model or ONNX session to load while requests are answered)."""
    path = resolve_model_path(config.model, Path(base_dir) if base_dir else None)
    key = (str(path), repr(config))
    with _SHARED_LOCK:
        encoder = _SHARED.get(key)
        if encoder is None:
            encoder = TextEncoder(config, base_dir)
            _SHARED[key] = encoder
        return encoder
