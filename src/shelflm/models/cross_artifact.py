"""The cross-encoder as an artifact directory (save / read only).

    config.json         {"format": "shelflm-cross-encoder", "model": CrossEncoderConfig,
                         "item_format": the template of item texts, ...records}; written
                         last and atomically
    weights.safetensors the weights that are not the base LM's: the heads, the prior weight
                        and the tuned part (LoRA matrices; every LM weight for 'full')
    model.onnx          (optional) the whole tuned model for onnxruntime (models/cross_onnx.py),
                        what a server scores with; model.int8.onnx its int8 copy

The base LM is named in the config relative to the artifact (or 'default', the bundled
MiniLM), loaded fresh and wrapped as in training, then the saved weights are put back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from safetensors.torch import load_file, save_file

from shelflm.encoders.lm import load_language_model, resolve_model_path
from shelflm.encoders.peft.base import base_model_reference
from shelflm.models.artifact import CONFIG, read_config, write_config
from shelflm.models.cross_config import CrossEncoderConfig
from shelflm.models.cross_encoder import CrossEncoder
from shelflm.models.cross_onnx import export_cross_encoder, quantize_cross_encoder

FORMAT = "shelflm-cross-encoder"
FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"


def build_cross_encoder(config: CrossEncoderConfig, base_dir: Path | None = None
                        ) -> CrossEncoder:
    """A fresh cross-encoder over `config.base_model` (relative to `base_dir` if given)."""
    tokenizer, lm = load_language_model(resolve_model_path(config.base_model, base_dir))
    return CrossEncoder(config, tokenizer, lm)


def save_cross_encoder(model: CrossEncoder, directory: str | Path, item_format: str,
                       records: dict | None = None, onnx: bool = False) -> Path:
    """Write `model` as an artifact directory (`onnx`: with its ONNX exports); returns it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).unlink(missing_ok=True)  # no artifact until the config is back
    for name in (ONNX, ONNX_INT8):
        (out / name).unlink(missing_ok=True)
    save_file(model.own_state(), str(out / WEIGHTS))
    if onnx:
        quantize_cross_encoder(export_cross_encoder(model, out / ONNX), out / ONNX_INT8)
    base = base_model_reference(str(resolve_model_path(model.config.base_model)), out)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "model": replace(model.config, base_model=base).to_dict(),
              "item_format": item_format, **(records or {})}
    write_config(out, config)
    return out


def read_cross_encoder(directory: str | Path) -> tuple[CrossEncoder, dict]:
    """(the model, in eval mode, and its config.json) of an artifact directory."""
    root = Path(directory)
    _, config = read_config(root, FORMAT, FORMAT_VERSION, "shelflm cross-encoder artifact")
    model = build_cross_encoder(CrossEncoderConfig(**config["model"]), root)
    saved = load_file(str(root / WEIGHTS))
    expected = set(model.own_state())
    if set(saved) != expected:
        raise ValueError(f"{root / WEIGHTS}: weights do not match the config "
                         f"(missing {sorted(expected - set(saved))[:3]}, "
                         f"unexpected {sorted(set(saved) - expected)[:3]})")
    model.load_state_dict(saved, strict=False)
    model.eval()
    return model, config
