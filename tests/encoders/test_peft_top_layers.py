"""top_layers: the cached lower states reproduce the whole model; only the top layers train."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from shelflm.encoders.config import EncoderConfig  # noqa: E402
from shelflm.encoders.encode import encode  # noqa: E402
from shelflm.encoders.peft.config import TopLayersConfig  # noqa: E402
from shelflm.encoders.peft.registry import build_tuner  # noqa: E402

TITLES = ["Lumi matte lipstick", "Orla hydrating shampoo for dry hair, 250 ml",
          "Vexa SPF 50 sunscreen", "Neva eau de parfum with a long and rather wordy name",
          "vegan nail polish", "mini eyeliner"]


@pytest.fixture(scope="module")
def whole_model_vectors() -> torch.Tensor:
    """Reference: the untouched language model run end to end, mean-pooled, normalised."""
    return torch.from_numpy(encode(TITLES, EncoderConfig(max_length=16)))


@pytest.mark.parametrize("num_layers, lora_rank", [(1, 8), (2, 8), (2, 0)])
def test_cached_path_equals_the_whole_model_before_training(whole_model_vectors, num_layers,
                                                            lora_rank):
    tuner = build_tuner(TopLayersConfig(num_layers=num_layers, lora_rank=lora_rank,
                                        max_length=16, batch_size=4), TITLES)
    tuner.eval()
    with torch.no_grad():
        vectors = tuner.all_items()
    torch.testing.assert_close(vectors, whole_model_vectors, atol=1e-5, rtol=0)
    # the cache holds real tokens only, one run of states per item
    assert tuner.cached_offsets[-1] == tuner.cached_states.shape[0]


def test_full_top_layers_train_only_the_top_layers():
    tuner = build_tuner(TopLayersConfig(num_layers=1, lora_rank=0, max_length=16), TITLES)
    names = {n for n, p in tuner.named_parameters() if p.requires_grad}
    assert names and all(".encoder.layer.5." in f".{n}" for n in names)
    # a full MiniLM layer is ~7.8% of the model: outside a PEFT budget, hence LoRA by default
    assert 0.05 < tuner.trainable_fraction < 0.1
    lower = tuner.model.encoder.layer[0].attention.self.query.weight.clone()
    optimizer = torch.optim.AdamW(tuner.trainable_parameters(), lr=1e-3)
    tuner(torch.arange(6)).sum().backward()
    optimizer.step()
    assert torch.equal(tuner.model.encoder.layer[0].attention.self.query.weight, lower)


def test_after_training_cached_and_uncached_paths_still_agree(whole_model_vectors):
    torch.manual_seed(0)
    tuner = build_tuner(TopLayersConfig(num_layers=2, max_length=16), TITLES)
    optimizer = torch.optim.AdamW(tuner.trainable_parameters(), lr=1e-2)
    for _ in range(2):
        (tuner(torch.arange(6)) @ tuner(torch.tensor([1, 2, 3, 4, 5, 0])).T).trace().backward()
        optimizer.step()
        optimizer.zero_grad()
    tuner.eval()
    with torch.no_grad():
        cached, direct = tuner.all_items(), tuner.encode_texts(TITLES)
    assert not torch.allclose(direct, whole_model_vectors, atol=1e-4)  # training moved them
    torch.testing.assert_close(cached, direct, atol=1e-5, rtol=0)


def test_bad_layer_counts_are_rejected():
    with pytest.raises(ValueError, match="num_layers"):
        TopLayersConfig(num_layers=0)
    with pytest.raises(ValueError, match="only 6 layers"):
        build_tuner(TopLayersConfig(num_layers=7, max_length=8), TITLES[:2])
