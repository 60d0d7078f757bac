"""TextEncoder on the ONNX runtimes: export, cache reuse, and equality with PyTorch."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from shelflm.encoders.config import EncoderConfig, OnnxOptions
from shelflm.encoders.encode import TextEncoder

TITLES = [
    "Maybelline Expert Wear Eyeliner, Velvet Black, 0.011 oz",
    "Neutrogena T-Gel Therapeutic Shampoo, Original Formula, 8.5 Fl. Oz.",
    "Rose & Oud Eau de Parfum Spray for Women 1.7 Oz",
    "Bamboo Charcoal Toothbrush (Pack of 4)",
    "Argan oil",
    "",
    "Vitamin C Serum 20% with Hyaluronic Acid, Brightening and Anti Aging Face Serum, 1 fl oz",
]
ENCODER = EncoderConfig(batch_size=3, threads=1)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return TextEncoder(ENCODER).encode(TITLES)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def _onnx(cache_dir: Path, runtime: str = "onnx", config: EncoderConfig = ENCODER,
          **options: object) -> TextEncoder:
    """A TextEncoder on an ONNX runtime, exporting under `cache_dir`."""
    return TextEncoder(replace(config, runtime=runtime, onnx_dir=str(cache_dir)),
                       onnx=OnnxOptions(**options))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row cosines; 1 where both rows are zero (an empty text has no vector anywhere)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    return np.where(both_zero, 1.0, (a * b).sum(1) / np.maximum(na * nb, 1e-30))


def test_fp32_matches_pytorch_and_export_is_reused(reference, cache_dir: Path) -> None:
    enc = _onnx(cache_dir)
    out = enc.encode(TITLES)
    assert out.shape == reference.shape and out.dtype == np.float32
    assert _cosines(out, reference).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [bool(t) for t in TITLES],
                               atol=1e-5)  # unit rows; "" has none
    # Order preserved under sorted batching, one text at a time gives the same vectors.
    np.testing.assert_allclose(enc.encode([TITLES[2]])[0], out[2], atol=1e-5)

    stamp = enc.onnx_path.stat().st_mtime_ns
    again = _onnx(cache_dir)
    assert again.onnx_path == enc.onnx_path and again.onnx_path.stat().st_mtime_ns == stamp


def test_batches_side_by_side_give_the_same_vectors(reference, cache_dir: Path) -> None:
    enc = _onnx(cache_dir, parallel_batches=2)
    # 7 titles in batches of 3: three batches over two threads, written back in input order.
    out = enc.encode(TITLES)
    assert _cosines(out, reference).min() >= 0.999


def test_int8_stays_close_to_pytorch(reference, cache_dir: Path) -> None:
    enc = _onnx(cache_dir, "onnx-int8")
    assert enc.onnx_path.name.startswith("model.int8")
    assert "|int8-" in enc.identity
    ops = Counter(n.op_type for n in onnx.load(str(enc.onnx_path),
                                               load_external_data=False).graph.node)
    # The default quantises the fused attention's QKV projection (5 QAttention, layer 0's
    # kept) and all 18 MatMuls; the 5 named in int8_keep_float (layer 0, FFN out of layers
    # 1-2) keep only their 2 outlier channels in float, as 5 small float MatMuls.
    assert ops["QAttention"] == 5 and ops["Attention"] == 1
    assert ops["MatMul"] == 5 and ops["MatMulInteger"] + ops["DynamicQuantizeMatMul"] == 18
    cos = _cosines(enc.encode(TITLES), reference)
    real = np.array([bool(t) for t in TITLES])
    assert cos[real].min() >= 0.99
    assert cos[~real].min() == 1.0  # "" is not run: zero in every runtime


def test_quantisation_settings_change_the_cache_key(cache_dir: Path) -> None:
    default = _onnx(cache_dir, "onnx-int8")
    per_tensor = _onnx(cache_dir, "onnx-int8", int8_per_channel=False)
    assert per_tensor.onnx_path != default.onnx_path
    assert per_tensor.identity != default.identity
    assert per_tensor.onnx_path.parent == default.onnx_path.parent  # one fp32 export


def test_decoder_style_model_exports_with_last_pooling(tmp_path: Path) -> None:
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TITLES * 3, vocab_size=300, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    path = tmp_path / "tiny-gpt2"
    tok.save_pretrained(path)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2,
                         n_head=2)).save_pretrained(path)
    config = EncoderConfig(model=str(path), pooling="last", max_length=32, batch_size=4,
                           threads=1)
    torch_vectors = TextEncoder(config).encode(TITLES)
    onnx_vectors = _onnx(tmp_path / "c", config=config).encode(TITLES)
    assert _cosines(onnx_vectors, torch_vectors).min() >= 0.999


def test_bad_input_named(cache_dir: Path) -> None:
    enc = _onnx(cache_dir)
    with pytest.raises(ValueError, match="list of texts"):
        enc.encode("one string")
    assert enc.encode([]).shape == (0, 384)
