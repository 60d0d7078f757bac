"""TextEncoder: shapes, normalisation, order under sorted batching, poolings, decoder models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import TextEncoder
from shelflm.encoders.lm import (
    default_model_path,
    last_pool,
    model_identity,
)

TEXTS = [
    "Rose eau de parfum spray 50 ml",
    "Hair dryer",
    "Waterproof black eyeliner pencil with built-in sharpener, pack of two",
    "",
    "Vitamin C brightening face serum for dull skin",
]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder(EncoderConfig(batch_size=2, threads=1))


def test_shapes_normalisation_and_input_order(minilm: TextEncoder) -> None:
    vectors = minilm.encode(TEXTS)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)  # the empty text (row 3) has no vector
    np.testing.assert_allclose(norms, [1, 1, 1, 0, 1], atol=1e-5)
    # Sorted batching must give each text its own vector back, in input order.
    one_by_one = np.stack([minilm.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


def test_sorted_batches_pad_less_than_input_order(minilm: TextEncoder) -> None:
    texts = [("short" if i % 2 else "a much longer product title " * 4) for i in range(8)]
    sorted_width = sum(b["input_ids"].size for _, b in minilm.batches(texts))
    plain = TextEncoder(replace(minilm.config, sort_by_length=False))
    plain_width = sum(b["input_ids"].size for _, b in plain.batches(texts))
    assert sorted_width < plain_width
    np.testing.assert_allclose(plain.encode(texts), minilm.encode(texts), atol=1e-5)


def test_similar_products_are_closer(minilm: TextEncoder) -> None:
    a, b, c = minilm.encode(["red lipstick", "crimson lip colour", "cordless drill"])
    assert a @ b > a @ c


def test_cls_pooling_and_no_normalisation() -> None:
    enc = TextEncoder(EncoderConfig(pooling="cls", normalize=False, threads=1))
    v = enc.encode(TEXTS[:2])
    assert not np.allclose(np.linalg.norm(v, axis=1), 1.0)
    assert enc.identity != TextEncoder(EncoderConfig(threads=1)).identity


def test_last_pool_picks_last_real_token() -> None:
    hidden = torch.arange(12, dtype=torch.float32).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert last_pool(hidden, mask).tolist() == [[2.0, 3.0], [10.0, 11.0]]


def _tiny_gpt2(path: Path) -> Path:
    """A randomly initialised GPT-2-style model with its own byte-level BPE, saved locally."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS * 3, vocab_size=300, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>")
    tok.save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2)
    GPT2Model(config).save_pretrained(path)
    return path


def test_decoder_style_model_loads_and_encodes(tmp_path: Path) -> None:
    path = _tiny_gpt2(tmp_path / "tiny-gpt2")
    enc = TextEncoder(EncoderConfig(model=str(path), pooling="last", max_length=32,
                                        batch_size=2, threads=1))
    assert enc.tokenizer.pad_token is not None  # GPT-2 style tokenizers ship without one
    v = enc.encode(TEXTS)
    assert v.shape == (5, 32) and np.isfinite(v).all()
    np.testing.assert_allclose(v[2], enc.encode([TEXTS[2]])[0], atol=1e-5)
    assert enc.identity.startswith(f"{tmp_path.name}/tiny-gpt2@")


def test_model_identity_tracks_content_not_location(tmp_path: Path) -> None:
    path = _tiny_gpt2(tmp_path / "m")
    first = model_identity(path)
    moved = path.rename(tmp_path / "elsewhere")
    assert model_identity(moved).split("@")[1] == first.split("@")[1]
    config = json.loads((moved / "config.json").read_text())
    config["n_layer"] = 1
    (moved / "config.json").write_text(json.dumps(config))
    assert model_identity(moved).split("@")[1] != first.split("@")[1]
    assert model_identity().startswith(f"{default_model_path().parent.name}/")


def test_bad_inputs_named(minilm: TextEncoder, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="list of texts"):
        minilm.encode("just one string")
    with pytest.raises(ValueError, match="text 1 is int"):
        minilm.encode(["ok", 3])
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TextEncoder(EncoderConfig(model=str(tmp_path)))
