"""int8 with outlier channels kept in float (LLM.int8()-style decomposition) for ONNX graphs.

BERT-style models carry a few hidden channels whose activations dwarf the rest (in MiniLM's
layer 0 and feed-forward outputs one or two channels reach 15-28 while the median channel
peaks near 2). Dynamic int8 gives a whole activation tensor one scale, so those channels
flatten everything else; that is why such MatMuls used to stay float. Here each such MatMul
becomes `int8(X * mask) @ W_rest + float(X[..., outliers]) @ W[outliers]`: the tiny float
product carries the outlier channels and the big product runs int8 at a fair scale.
Only the choice of channels comes from calibration (scales stay dynamic), so a handful of
texts of any kind finds them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUTLIER_SUFFIX = "_outlier"  # float side products; the caller keeps them out of int8


def synthetic_calibration_texts(vocabulary: Iterable[str], count: int = 64, seed: int = 0
                                ) -> list[str]:
    """Deterministic word salad from a tokenizer's whole-word vocabulary (no data files)."""
    words = sorted(w for w in vocabulary if w.isalpha() and len(w) >= 3)
    if not words:
        raise ValueError("tokenizer vocabulary has no whole words to build calibration texts")
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        picked = [words[i] for i in rng.integers(0, len(words), int(rng.integers(3, 24)))]
        if rng.random() < 0.5:  # product titles carry sizes and counts
            picked.insert(int(rng.integers(0, len(picked))), f"{int(rng.integers(1, 500))}")
        texts.append(" ".join(picked).capitalize())
    return texts


def activation_peaks(model: onnx.ModelProto, tensors: list[str],
                     batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |activation| of `tensors` over real (unmasked) tokens of `batches`."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in tensors:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    peaks: dict[str, np.ndarray] = {}
    for input_ids, mask in batches:
        outputs = session.run(tensors, {"input_ids": input_ids, "attention_mask": mask})
        for name, value in zip(tensors, outputs, strict=True):
            # (batch, tokens, channels) keeps real tokens only; other shapes count every row.
            rows = (value[mask.astype(bool)] if value.shape[:2] == mask.shape
                    else value.reshape(-1, value.shape[-1]))
            peak = np.abs(rows).max(0)
            peaks[name] = np.maximum(peaks[name], peak) if name in peaks else peak
    if not peaks:
        raise ValueError("no calibration batches: give at least one text")
    return peaks


def split_outlier_channels(model: onnx.ModelProto, node_names: set[str], channels: int,
                           batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """Split the named MatMuls (constant weight) in place; returns the float side nodes' names.

    Nodes that are not MatMul with an initializer weight are left alone (e.g. fused Attention).
    """
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    targets = [n for n in graph.node if n.name in node_names and n.op_type == "MatMul"
               and n.input[1] in weights]
    if not targets or channels <= 0:
        return []
    peaks = activation_peaks(model, sorted({n.input[0] for n in targets}), batches)
    nodes, side = [], []
    for node in graph.node:
        if node not in targets:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        top = np.sort(np.argsort(-peaks[node.input[0]], kind="stable")[:channels])
        rest = w.copy()
        rest[top] = 0  # outlier rows now only in the float product
        weights[node.input[1]].CopyFrom(numpy_helper.from_array(rest, node.input[1]))
        keep = np.ones(w.shape[0], dtype=np.float32)
        keep[top] = 0
        p, x = node.name, node.input[0]
        graph.initializer.extend([numpy_helper.from_array(keep, f"{p}_keep"),
                                  numpy_helper.from_array(top.astype(np.int64), f"{p}_top"),
                                  numpy_helper.from_array(w[top], f"{p}_wtop")])
        side.append(p + OUTLIER_SUFFIX)
        nodes += [
            helper.make_node("Mul", [x, f"{p}_keep"], [f"{p}_xrest"], name=f"{p}_mask"),
            helper.make_node("Gather", [x, f"{p}_top"], [f"{p}_xtop"], name=f"{p}_gather",
                             axis=-1),
            helper.make_node("MatMul", [f"{p}_xtop", f"{p}_wtop"], [f"{p}_ytop"],
                             name=p + OUTLIER_SUFFIX),
            # Same name as before, so keep/exclude patterns still find the int8 part.
            helper.make_node("MatMul", [f"{p}_xrest", node.input[1]], [f"{p}_yrest"], name=p),
            helper.make_node("Add", [f"{p}_yrest", f"{p}_ytop"], [node.output[0]],
                             name=f"{p}_add"),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    return side
