"""The tuned cross-encoder on onnxruntime: export (LoRA merged into the LM first), an int8
copy (dynamic quantisation of the MatMul weights, per channel: about 3x faster on a CPU)
and a scorer with the PyTorch model's interface, so `training.cross_fit.predict_cross`
runs any of them (`onnx_parity` there checks that they agree).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from shelflm.models.cross_encoder import CrossEncoder

OPSET = 17


class _Traceable(torch.nn.Module):
    """forward(ids, mask, [token types], prior) -> (logits, ratings) with plain inputs."""

    def __init__(self, model: CrossEncoder, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = dict(zip(self.names, inputs[:-1], strict=True))
        return self.model(batch, inputs[-1])


def export_cross_encoder(model: CrossEncoder, target: str | Path) -> Path:
    """Write `model` as one ONNX graph at `target` (a temp name, then renamed)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    plain = copy.deepcopy(model).eval()
    if hasattr(plain.lm, "merge_and_unload"):  # peft: fold the LoRA matrices in
        plain.lm = plain.lm.merge_and_unload()
    plain.lm.config._attn_implementation = "eager"  # traces to plain ops on every version
    batch, _ = plain.tokenize(["Liked: a; b."], ["c"])
    names = list(batch)
    args = (*[batch[n] for n in names], torch.zeros(1))
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {
        "prior": {0: "batch"}, "logits": {0: "batch"}, "ratings": {0: "batch"}}
    raw = target.with_name(f".{os.getpid()}.{target.name}")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow
        torch.onnx.export(_Traceable(plain, names), args, str(raw), opset_version=OPSET,
                          input_names=[*names, "prior"], output_names=["logits", "ratings"],
                          dynamic_axes=axes, dynamo=False)
    os.replace(raw, target)
    return target


def quantize_cross_encoder(source: str | Path, target: str | Path) -> Path:
    """An int8 copy of the exported graph at `source`, written to `target` (temp, rename)."""
    # Imported here: ~0.8 s of import that only making an int8 file needs.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(target)
    raw = target.with_name(f".{os.getpid()}.{target.name}")
    logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
    try:
        quantize_dynamic(str(source), str(raw), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        logging.disable(logging.NOTSET)
    os.replace(raw, target)
    return target


class OnnxCrossEncoder:
    """A cross-encoder exported by `export_cross_encoder`, scored on onnxruntime; the
    tokenizer and config come from the PyTorch model it was made from."""

    def __init__(self, path: str | Path, like: CrossEncoder, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.config, self.tokenizer = like.config, like.tokenizer
        self.tokenize = like.tokenize

    def eval(self) -> OnnxCrossEncoder:
        """Nothing to switch (the graph is inference only); here for predict_cross."""
        return self

    def __call__(self, batch: dict[str, torch.Tensor], prior: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        feed = {n: batch[n].numpy().astype(np.int64) for n in self.inputs if n != "prior"}
        feed["prior"] = prior.numpy().astype(np.float32)
        logits, ratings = self.session.run(["logits", "ratings"], feed)
        return torch.from_numpy(logits), torch.from_numpy(ratings)

