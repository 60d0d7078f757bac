"""Registry, config validation, bad input, and artifacts that move with their base model."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import AutoTokenizer, BertConfig, BertModel  # noqa: E402

from shelflm.encoders.lm import default_model_path  # noqa: E402
from shelflm.encoders.peft.config import (  # noqa: E402
    AdaptorConfig,
    LoraTunerConfig,
    TunerConfig,
    make_config,
)
from shelflm.encoders.peft.lora import LoraTuner  # noqa: E402
from shelflm.encoders.peft.registry import TUNERS, build_tuner, load_tuner  # noqa: E402

TITLES = ["matte lipstick", "dry hair shampoo", "sunscreen spf 50", "rose perfume"]


@pytest.fixture
def tiny_bert(tmp_path) -> Path:
    """A 2-layer random BERT saved locally with MiniLM's tokenizer (no download)."""
    torch.manual_seed(0)
    path = tmp_path / "models" / "tiny-bert"
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, vocab_size=30522)
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(path)
    return path


def test_every_method_is_registered_with_its_config():
    assert set(TUNERS) == {"adaptor", "lora", "adalora", "top_layers", "full"}
    for name, cls in TUNERS.items():
        assert issubclass(cls.config_class, TunerConfig) and cls.config_class.method == name
        assert isinstance(make_config(name, **({"total_step": 5} if name == "adalora" else {})),
                          cls.config_class)


def test_unknown_method_and_unknown_keys_are_named():
    with pytest.raises(ValueError, match="'prefix'.*known"):
        make_config("prefix")
    with pytest.raises(ValueError, match="unknown config keys \\['rnak'\\]"):
        LoraTunerConfig.from_dict({"method": "lora", "rnak": 4})


@pytest.mark.parametrize("cls, options, field", [
    (LoraTunerConfig, {"rank": 0}, "rank"),
    (LoraTunerConfig, {"dropout": 1.5}, "dropout"),
    (LoraTunerConfig, {"target_modules": ()}, "target_modules"),
    (AdaptorConfig, {"num_experts": 0}, "num_experts"),
    (AdaptorConfig, {"max_length": 0}, "max_length"),
])
def test_bad_config_values_name_the_field(cls, options, field):
    with pytest.raises(ValueError, match=field):
        cls(**options)


def test_config_survives_json_with_tuples_intact():
    config = LoraTunerConfig(rank=2, target_modules=("query", "value", "dense"))
    again = LoraTunerConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.target_modules, tuple)


def test_bad_items_and_indices_get_clear_errors(tiny_bert):
    config = AdaptorConfig(base_model=str(tiny_bert), max_length=8)
    with pytest.raises(ValueError, match="item text 1 is not a str"):
        build_tuner(config, ["lipstick", None])
    assert build_tuner(config, ["lipstick", ""]).num_items == 2  # a product without a title
    with pytest.raises(ValueError, match="no item texts"):
        build_tuner(config, [])
    tuner = build_tuner(config, TITLES)
    with pytest.raises(ValueError, match="item index 4 out of range.*4 items"):
        tuner(torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="integer tensor"):
        tuner(torch.tensor([0.0]))


def test_load_of_a_non_artifact_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="tuner_config.json"):
        load_tuner(tmp_path)


@pytest.mark.parametrize("method", ["lora", "adaptor"])
def test_artifact_moves_together_with_a_relative_base_model(tiny_bert, tmp_path, method):
    torch.manual_seed(1)
    tuner = build_tuner(make_config(method, base_model=str(tiny_bert), max_length=8), TITLES)
    with torch.no_grad():  # make the adapter non-trivial (LoRA's B starts at zero)
        for p in tuner.trainable_parameters():
            p.add_(0.01 * torch.randn_like(p))
    tuner.eval()
    with torch.no_grad():
        expected = tuner.all_items()
    tuner.save(tmp_path / "artifacts" / "run1")
    saved = json.loads((tmp_path / "artifacts" / "run1" / "tuner_config.json").read_text())
    assert saved["base_model"] == "../../models/tiny-bert"
    if method == "lora":
        adapter = json.loads((tmp_path / "artifacts/run1/adapter/adapter_config.json").read_text())
        assert not Path(adapter["base_model_name_or_path"]).is_absolute()
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    shutil.move(tmp_path, moved)  # the whole tree goes to another place, as on another host
    try:
        loaded = load_tuner(moved / "artifacts" / "run1")
        loaded.eval()
        with torch.no_grad():
            torch.testing.assert_close(loaded.all_items(), expected, atol=1e-6, rtol=0)
        wrong_class = pytest.raises(ValueError, match="not LoraTuner")
        with wrong_class if method != "lora" else nullcontext():
            load_tuner(moved / "artifacts" / "run1", LoraTuner)
    finally:
        shutil.move(moved, tmp_path)

