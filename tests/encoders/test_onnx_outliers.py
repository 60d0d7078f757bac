"""int8 with outlier channels in float: the graph split, calibration text, and MiniLM accuracy."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from shelflm.data.synthetic import SyntheticShopConfig, generate_shop
from shelflm.encoders.config import EncoderConfig, OnnxOptions
from shelflm.encoders.encode import TextEncoder
from shelflm.encoders.onnx_outliers import split_outlier_channels, synthetic_calibration_texts

ENCODER = EncoderConfig(batch_size=16, threads=1, max_length=48)


def _tiny_graph(table: np.ndarray, weight: np.ndarray) -> onnx.ModelProto:
    """input_ids -> embedding rows (B, T, K) -> MatMul 'proj' -> (B, T, N)."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["x"], name="embed"),
         helper.make_node("MatMul", ["x", "w"], ["y"], name="proj")],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(weight, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]


def test_split_keeps_the_product_and_picks_the_outlier_channels() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(10, 8)).astype(np.float32)
    table[:, 5] *= 40  # channel 5 dwarfs the rest, channel 2 a little less
    table[:, 2] *= 10
    weight = rng.normal(size=(8, 4)).astype(np.float32)
    model = _tiny_graph(table, weight)
    ids = rng.integers(0, 10, size=(3, 6)).astype(np.int64)
    before = _run(model, ids)

    mask = np.ones_like(ids)
    side = split_outlier_channels(model, {"proj"}, 2, [(ids, mask)])
    assert side == ["proj_outlier"]
    np.testing.assert_allclose(_run(model, ids), before, rtol=1e-5, atol=1e-4)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits["proj_top"].tolist() == [2, 5]
    assert not inits["w"][[2, 5]].any()  # those rows moved to the float product
    np.testing.assert_array_equal(inits["proj_wtop"], weight[[2, 5]])
    assert split_outlier_channels(_tiny_graph(table, weight), {"embed"}, 2, [(ids, mask)]) == []


def test_synthetic_calibration_texts_are_deterministic() -> None:
    vocab = {"[CLS]": 0, "##ing": 1, "shampoo": 2, "argan": 3, "oil": 4, "ab": 5}
    texts = synthetic_calibration_texts(vocab, count=5)
    assert texts == synthetic_calibration_texts(vocab, count=5) and len(texts) == 5
    words = {w for t in texts for w in t.lower().split() if not w.isdigit()}
    assert words <= {"shampoo", "argan", "oil"}
    with pytest.raises(ValueError, match="no whole words"):
        synthetic_calibration_texts({"##a": 0})


@pytest.fixture(scope="module")
def titles() -> list[str]:
    return generate_shop(SyntheticShopConfig(num_users=20, num_items=60, target_events=200,
                                             seed=3)).catalog.items["title"].tolist()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-outliers")


def test_outlier_split_int8_matches_pytorch(titles: list[str], cache_dir: Path) -> None:
    reference = TextEncoder(ENCODER).encode(titles)
    enc = TextEncoder(replace(ENCODER, runtime="onnx-int8", onnx_dir=str(cache_dir)))
    ops = Counter(n.op_type for n in onnx.load(str(enc.onnx_path),
                                               load_external_data=False).graph.node)
    # All 18 MatMuls run int8; the 5 that used to stay float left 2 channels each in float.
    assert ops["MatMulInteger"] + ops["DynamicQuantizeMatMul"] == 18 and ops["MatMul"] == 5
    assert ops["QAttention"] == 5 and ops["Attention"] == 1  # a fused op cannot be split
    out = enc.encode(titles)
    cos = (out * reference).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(reference,
                                                                                 axis=1)
    assert cos.min() >= 0.99


def test_outlier_settings_and_calibration_change_the_cache_key(titles: list[str],
                                                               cache_dir: Path) -> None:
    def build(channels: int = 2, texts: list[str] | None = None) -> TextEncoder:
        return TextEncoder(replace(ENCODER, runtime="onnx-int8", onnx_dir=str(cache_dir)),
                           onnx=OnnxOptions(int8_outlier_channels=channels),
                           calibration_texts=texts)

    default, catalog, whole = build(), build(texts=titles[:32]), build(channels=0)
    paths = {default.onnx_path, catalog.onnx_path, whole.onnx_path}
    identities = {default.identity, catalog.identity, whole.identity}
    assert len(paths) == 3 and len(identities) == 3
    assert build(texts=titles[:32]).onnx_path == catalog.onnx_path  # same texts: reused
    with pytest.raises(ValueError, match="not str"):
        build(texts=["ok", 3])
