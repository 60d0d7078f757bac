"""The ONNX runtimes of `encoders.encode.TextEncoder`: the language model plus pooling
exported to ONNX and run by onnxruntime (runtime "onnx", or "onnx-int8" with quantised weights).

The exported graph takes (input_ids, attention_mask) and returns pooled, optionally
normalised vectors, so TextEncoder batches and caches exactly as for PyTorch. Exports are
cached on disk by model identity and settings, so only the first use pays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import AutoConfig, PreTrainedTokenizerBase

from shelflm.encoders.config import EncoderConfig, OnnxOptions
from shelflm.encoders.lm import (
    POOL_FUNCTIONS,
    check_texts,
    load_language_model,
    model_identity,
    padded_batches,
    tokenize_texts,
)
from shelflm.encoders.onnx_outliers import (
    OUTLIER_SUFFIX,
    split_outlier_channels,
    synthetic_calibration_texts,
)

log = logging.getLogger(__name__)
OPSET = 17
# Model types onnxruntime's transformer optimizer knows how to fuse (attention, layer norm).
_FUSABLE = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert",
            "mpnet": "bert", "gpt2": "gpt2"}
Batch = tuple[np.ndarray, dict[str, np.ndarray]]  # (rows, {"input_ids", "attention_mask"})


def default_cache_dir() -> Path:
    """Where exports live unless configured: $SHELFLM_CACHE/onnx or ~/.cache/shelflm/onnx."""
    root = os.environ.get("SHELFLM_CACHE") or Path.home() / ".cache" / "shelflm"
    return Path(root) / "onnx"


class OnnxRunner:
    """Runs token batches through the exported graph (a TextEncoder backend)."""

    def __init__(self, config: EncoderConfig, model_path: Path,
                 tokenizer: PreTrainedTokenizerBase, options: OnnxOptions | None = None,
                 calibration_texts: list[str] | None = None) -> None:
        self.config, self.model_path, self.tokenizer = config, Path(model_path), tokenizer
        self.options = options or OnnxOptions()
        self.quantize = config.runtime == "onnx-int8"
        # Texts that pick int8 outlier channels (e.g. the catalog's own titles); None =
        # synthetic text from the tokenizer's vocabulary, so no data file is needed.
        self.calibration_texts = (check_texts(calibration_texts)
                                  if calibration_texts is not None else None)
        self.onnx_path = self._ensure_exported()
        session = ort.SessionOptions()
        session.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        parallel = self.options.parallel_batches
        # InferenceSession.run is thread-safe: with batches side by side, each gets one thread.
        session.intra_op_num_threads = 1 if parallel > 1 else (config.threads or 1)
        session.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.onnx_path), session,
                                            providers=["CPUExecutionProvider"])
        # One pool for the runner's lifetime: a query path must not start threads per call.
        self._pool = ThreadPoolExecutor(parallel) if parallel > 1 else None
        self.dim = int(AutoConfig.from_pretrained(self.model_path,
                                                  local_files_only=True).hidden_size)

    @property
    def identity_suffix(self) -> str:
        """What this runtime adds to the vectors' identity: the int8 settings, if quantised
        (fp32 ONNX gives PyTorch's vectors up to numerics, so it shares their identity)."""
        return f"|int8-{self._quant_hash()}" if self.quantize else ""

    def running(self) -> nullcontext:
        """Nothing to set per call: threads are fixed when the session is made."""
        return nullcontext()

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """(B, T) int64 token ids and mask -> (B, d) float32 vectors."""
        return self.session.run(None, {"input_ids": input_ids,
                                       "attention_mask": attention_mask})[0]

    def run(self, batches: Iterable[Batch]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows, vectors) per batch; batches side by side when parallel_batches > 1."""
        def one(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
            rows, inputs = batch
            return rows, self.forward(inputs["input_ids"], inputs["attention_mask"])

        # onnxruntime releases the GIL while a batch runs, so the pool's threads overlap.
        return map(one, batches) if self._pool is None else self._pool.map(one, batches)

    def _quant_hash(self) -> str:
        """Short hash of every quantisation setting: a change makes a new int8 file."""
        o = self.options
        settings = {"ops": o.int8_op_types, "keep": o.int8_keep_float,
                    "weight": o.int8_weight_type, "per_channel": o.int8_per_channel}
        if o.int8_outlier_channels:  # absent when 0, so older int8 files keep their name
            texts = self.calibration_texts
            settings["outliers"] = o.int8_outlier_channels
            settings["calibration"] = "synthetic-v1" if texts is None else hashlib.sha256(
                "\x00".join(texts).encode()).hexdigest()
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]

    def _ensure_exported(self) -> Path:
        c, root = self.config, self.config.onnx_dir or default_cache_dir()
        key = {"model": model_identity(self.model_path), "pooling": c.pooling,
               "normalize": c.normalize, "fuse": self.options.fuse, "opset": OPSET,
               "torch": torch.__version__, "ort": ort.__version__}
        folder = Path(root) / hashlib.sha256(json.dumps(key, sort_keys=True).encode()
                                             ).hexdigest()[:20]
        fp32 = folder / "model.onnx"
        if not fp32.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "identity.json").write_text(json.dumps(key, indent=2) + "\n")
            self._export(fp32)
        if not self.quantize:
            return fp32
        int8 = folder / f"model.int8-{self._quant_hash()}.onnx"
        if not int8.is_file():
            _quantize(fp32, int8, self.options, self._calibration_batches())
        return int8

    def _calibration_batches(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(input_ids, mask) batches of the calibration texts (synthetic when none given)."""
        texts = self.calibration_texts
        if texts is None:
            texts = synthetic_calibration_texts(self.tokenizer.get_vocab())
        ids = tokenize_texts(self.tokenizer, texts, self.config.max_length)
        return [(i, m) for _, i, m in padded_batches(ids, self.tokenizer.pad_token_id, 32)]

    def _export(self, target: Path) -> None:
        """Trace model + pooling to ONNX, then fuse; written to a temp name, then renamed."""
        _, model = load_language_model(self.model_path)
        model.config._attn_implementation = "eager"  # traces to plain ops on every version
        wrapper = _PooledModel(model, self.config.pooling, self.config.normalize)
        raw = target.with_name(f".{os.getpid()}.raw.onnx")
        ids = torch.ones((2, 8), dtype=torch.long)
        mask = torch.ones((2, 8), dtype=torch.long)
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about python control flow
            torch.onnx.export(
                wrapper, (ids, mask), str(raw), input_names=["input_ids", "attention_mask"],
                output_names=["vectors"], opset_version=OPSET, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                              "attention_mask": {0: "batch", 1: "tokens"},
                              "vectors": {0: "batch"}},
            )
        model_type = _FUSABLE.get(model.config.model_type)
        if self.options.fuse and model_type:
            _fuse(raw, model_type, model.config)
        os.replace(raw, target)


def _fuse(path: Path, model_type: str, config: object) -> None:
    """Fuse attention / layer norm in place with onnxruntime's transformer optimizer."""
    # Imported here: the optimizer pulls in a large module tree only an export needs.
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(str(path), model_type=model_type, opt_level=0,
                           num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                           hidden_size=int(getattr(config, "hidden_size", 0) or 0))
    fused.save_model_to_file(str(path))


class _PooledModel(torch.nn.Module):
    """The language model with pooling (and normalisation) as one traceable module."""

    def __init__(self, model: torch.nn.Module, pooling: str, normalize: bool) -> None:
        super().__init__()
        self.model, self.pool, self.normalize = model, POOL_FUNCTIONS[pooling], normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        vectors = self.pool(hidden, attention_mask)
        return torch.nn.functional.normalize(vectors, dim=-1) if self.normalize else vectors


def _quantize(source: Path, target: Path, config: OnnxOptions,
              calibration: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """int8 dynamic quantisation of MatMul/Attention weights (activations stay float at rest)."""
    # Imported here: ~0.8 s of import that only making an int8 file needs.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = [n.name for n in onnx.load(str(source), load_external_data=False).graph.node
             if n.op_type in config.int8_op_types]
    keep = [n for n in names if any(re.search(p, n) for p in config.int8_keep_float)]
    split = source.with_name(f".{os.getpid()}.split.onnx")
    if config.int8_outlier_channels:
        model = onnx.load(str(source))
        side = split_outlier_channels(model, set(keep), config.int8_outlier_channels,
                                      calibration)
        split_names = {s.removesuffix(OUTLIER_SUFFIX) for s in side}
        keep = [n for n in keep if n not in split_names] + side
        onnx.save(model, str(split))
        source = split
    tmp = target.with_name(f".{os.getpid()}.int8.onnx")
    # Fused ops (com.microsoft domain) defeat shape inference; their outputs are float.
    quantize_dynamic(str(source), str(tmp), weight_type=QuantType[config.int8_weight_type],
                     per_channel=config.int8_per_channel,
                     op_types_to_quantize=list(config.int8_op_types), nodes_to_exclude=keep,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    split.unlink(missing_ok=True)
    os.replace(tmp, target)
