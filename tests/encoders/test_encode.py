"""Every EncoderConfig field takes effect in the one encode path (TextEncoder / encode)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import shelflm.encoders.encode as encode_module
from shelflm.encoders.config import EncoderConfig
from shelflm.encoders.encode import TextEncoder, encode
from shelflm.encoders.lm import default_model_path

TEXTS = ["Rose eau de parfum spray 50 ml", "Hair dryer",
         "Waterproof black eyeliner pencil with built-in sharpener, pack of two",
         "Vitamin C brightening face serum for dull skin", "red lipstick"]
BASE = EncoderConfig(threads=1)


class Spy:
    """Records each forward call of an encoder's backend: batch shape and torch threads."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.threads: list[int] = []
        forward = encoder.backend.forward

        def spied(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            self.shapes.append(input_ids.shape)
            self.threads.append(torch.get_num_threads())
            return forward(input_ids, attention_mask)

        encoder.backend.forward = spied


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return encode(TEXTS, BASE)


def test_poolings_give_different_vectors(reference: np.ndarray) -> None:
    cls, last = (encode(TEXTS, replace(BASE, pooling=p)) for p in ("cls", "last"))
    for a, b in ((reference, cls), (reference, last), (cls, last)):
        assert not np.allclose(a, b, atol=1e-3)
    assert TextEncoder(replace(BASE, pooling="cls")).identity != TextEncoder(BASE).identity


def test_normalize(reference: np.ndarray) -> None:
    raw = encode(TEXTS, replace(BASE, normalize=False))
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), reference,
                               atol=1e-5)


def test_an_empty_text_has_a_zero_vector_and_is_not_run(reference: np.ndarray) -> None:
    encoder = TextEncoder(BASE)
    spy = Spy(encoder)
    out = encoder.encode(["", TEXTS[0], "  \t", TEXTS[1]])
    np.testing.assert_array_equal(out[[0, 2]], 0)
    np.testing.assert_allclose(out[[1, 3]], reference[:2], atol=1e-5)
    assert sum(shape[0] for shape in spy.shapes) == 2  # only the two texts reach the LM


def test_max_length_truncates() -> None:
    texts = ["the red cat sat on the mat", "the red dog ran in the park"]
    short = TextEncoder(replace(BASE, max_length=4))  # [CLS] the red [SEP]
    assert max(len(ids) for ids in short.tokenize(texts)) == 4
    cut = short.encode(texts)
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)
    full = encode(texts, BASE)
    assert not np.allclose(full[0], full[1], atol=1e-3)


@pytest.mark.parametrize(("batch_size", "calls"), [(2, 3), (5, 1)])
def test_batch_size_changes_batching_not_vectors(reference, batch_size, calls) -> None:
    enc = TextEncoder(replace(BASE, batch_size=batch_size))
    spy = Spy(enc)
    np.testing.assert_allclose(enc.encode(TEXTS), reference, atol=1e-5)
    assert len(spy.shapes) == calls and max(s[0] for s in spy.shapes) == batch_size


def test_sort_by_length_changes_padding_not_vectors(reference: np.ndarray) -> None:
    padded = {}
    for sort in (True, False):
        enc = TextEncoder(replace(BASE, batch_size=2, sort_by_length=sort))
        spy = Spy(enc)
        np.testing.assert_allclose(enc.encode(TEXTS), reference, atol=1e-5)
        padded[sort] = sum(rows * width for rows, width in spy.shapes)
    assert padded[True] < padded[False]


def test_threads_set_while_encoding_then_restored() -> None:
    torch.set_num_threads(2)
    enc = TextEncoder(replace(BASE, threads=1))
    spy = Spy(enc)
    enc.encode(TEXTS[:2])
    assert spy.threads == [1] and torch.get_num_threads() == 2
    keep = TextEncoder(replace(BASE, threads=None))
    spy = Spy(keep)
    keep.encode(TEXTS[:2])
    assert spy.threads == [2]


@pytest.mark.parametrize(("minimum", "count", "shown"), [(3, 3, True), (3, 2, False),
                                                         (0, 5, False)])
def test_progress_min_texts(monkeypatch, minimum, count, shown) -> None:
    seen = []
    real = encode_module.Progress

    def progress(*args, **kwargs):
        seen.append(not kwargs["disable"])
        return real(*args, **kwargs)

    monkeypatch.setattr(encode_module, "Progress", progress)
    TextEncoder(replace(BASE, progress_min_texts=minimum)).encode(TEXTS[:count])
    assert seen == [shown]


def test_onnx_runtime_matches_pytorch_and_exports_into_onnx_dir(reference, tmp_path) -> None:
    enc = TextEncoder(replace(BASE, runtime="onnx", onnx_dir=str(tmp_path / "graphs")))
    assert enc.onnx_path is not None and enc.onnx_path.is_relative_to(tmp_path / "graphs")
    assert TextEncoder(BASE).onnx_path is None
    out = enc.encode(TEXTS)
    cos = (out * reference).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(reference,
                                                                                 axis=1)
    assert cos.min() >= 0.99


def test_cache_dir_second_call_encodes_nothing(reference, tmp_path: Path) -> None:
    config = replace(BASE, cache_dir=str(tmp_path / "vectors"))
    first = TextEncoder(config)
    np.testing.assert_allclose(first.encode(TEXTS), reference, atol=1e-5)
    again = TextEncoder(config)  # a fresh encoder (a new process) over the same folder
    spy = Spy(again)
    np.testing.assert_array_equal(again.encode(TEXTS), first.encode(TEXTS))
    assert spy.shapes == [] and again.cache.stats.hits == len(TEXTS)
    again.encode([*TEXTS, "nail polish"])
    assert spy.shapes == [(1, spy.shapes[0][1])]  # only the new text
    other = TextEncoder(replace(config, pooling="cls"))  # other settings: other entries
    assert other.encode(TEXTS[:1]).shape == (1, 384) and other.cache.stats.misses == 1


def test_model_path_and_base_dir(reference: np.ndarray, tmp_path: Path) -> None:
    path = default_model_path()
    by_path = TextEncoder(replace(BASE, model=str(path)))
    np.testing.assert_allclose(by_path.encode(TEXTS), reference, atol=1e-6)
    relative = TextEncoder(replace(BASE, model=path.name), base_dir=path.parent)
    assert relative.model_path == path and relative.identity == by_path.identity
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TextEncoder(replace(BASE, model=str(tmp_path)))
    assert replace(BASE, model="m").resolved(tmp_path).model == str((tmp_path / "m").resolve())
    assert BASE.resolved(tmp_path) == BASE  # "default" stays symbolic


@pytest.mark.parametrize(("field", "value"), [("pooling", "max"), ("runtime", "tensorrt"),
                                              ("max_length", 0), ("batch_size", 0),
                                              ("threads", 0), ("progress_min_texts", -1)])
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        EncoderConfig(**{field: value})


def test_one_shared_encoder_per_model_and_settings() -> None:
    """A reload of another version of the same LM gets the live encoder, not a second one;
    other settings get their own, and one nobody holds is let go."""
    first = encode_module.shared_encoder(BASE)
    assert encode_module.shared_encoder(replace(BASE)) is first
    other = encode_module.shared_encoder(replace(BASE, max_length=16))
    assert other is not first and other.config.max_length == 16
    kept = id(other)
    del other
    assert all(id(e) != kept for e in encode_module._SHARED.values())
