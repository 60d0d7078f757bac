"""Every fine-tuning method: trainable fraction, training lowers a contrastive loss, save/load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from shelflm.encoders.peft.base import ItemTuner  # noqa: E402
from shelflm.encoders.peft.config import make_config  # noqa: E402
from shelflm.encoders.peft.registry import build_tuner, load_tuner  # noqa: E402

CATEGORIES = ["lipstick", "shampoo", "sunscreen", "perfume", "nail polish", "face mask",
              "eyeliner", "hand cream"]
WORDS = ["matte", "glossy", "organic", "travel size", "deluxe", "vegan", "classic", "hydrating"]
BRANDS = ["Lumi", "Orla", "Vexa", "Neva"]
STEPS = 4

# label -> (method, config options, learning rate); AdaLoRA's schedule fits inside the STEPS
# steps so rank pruning (step total_step - tfinal) and masking both happen before the round trip.
METHODS = {
    "adaptor": ("adaptor", {}, 1e-2),
    "adaptor-moe": ("adaptor", {"num_experts": 3, "d_out": 128, "dropout": 0.1}, 1e-2),
    "lora": ("lora", {"rank": 4}, 1e-2),
    "adalora": ("adalora", {"total_step": STEPS, "tinit": 1, "tfinal": 1, "init_r": 6,
                            "target_r": 3}, 2e-2),
    "top_layers": ("top_layers", {"num_layers": 1}, 1e-2),
    "full": ("full", {}, 1e-4),
}


def titles() -> list[str]:
    """64 made-up product titles, 8 per category (item i is in category i // 8)."""
    return [f"{BRANDS[j % 4]} {WORDS[j]} {cat}" for cat in CATEGORIES for j in range(8)]


# Anchor 8c (category c) is paired with an item of category c+3: a link the pretrained model
# does not already know, so the loss starts high and only falls if the method learns.
ANCHORS = torch.arange(0, 64, 8)
POSITIVES = (ANCHORS + 24) % 64 + 1


def pair_loss(tuner: ItemTuner) -> torch.Tensor:
    """In-batch InfoNCE over 8 (anchor, positive) pairs; the other 7 positives are negatives."""
    anchors, positives = tuner(torch.cat([ANCHORS, POSITIVES])).chunk(2)
    logits = anchors @ positives.T / 0.1
    return F.cross_entropy(logits, torch.arange(len(logits)))


@pytest.fixture(autouse=True)
def _few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: more threads only spin and wait
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=sorted(METHODS))
def trained(request, tmp_path_factory):
    """A tuner per method after STEPS AdamW steps, its losses, identities and a saved copy."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    method, options, lr = METHODS[request.param]
    tuner = build_tuner(make_config(method, max_length=12, batch_size=16, **options), titles())
    identity_before = tuner.identity
    tuner.eval()
    with torch.no_grad():
        loss_before = float(pair_loss(tuner))
    optimizer = torch.optim.AdamW(tuner.trainable_parameters(), lr=lr)
    for step in range(STEPS):
        tuner.train()
        loss = pair_loss(tuner) + tuner.extra_loss()
        loss.backward()
        optimizer.step()
        tuner.after_optimizer_step(step)
        optimizer.zero_grad()
    tuner.eval()
    with torch.no_grad():
        loss_after = float(pair_loss(tuner))
    saved = tuner.save(tmp_path_factory.mktemp(request.param))
    return request.param, tuner, loss_before, loss_after, identity_before, saved


def test_trainable_fraction_is_well_under_one_percent_except_full(trained):
    method, tuner, *_ = trained
    counted = sum(p.numel() for p in tuner.parameters() if p.requires_grad)
    assert tuner.num_trainable == counted > 0
    if method == "full":
        assert tuner.trainable_fraction == 1.0
    else:
        assert tuner.trainable_fraction < 0.008, f"{method}: {tuner.trainable_fraction:.4%}"


def test_training_steps_reduce_the_contrastive_loss(trained):
    method, _, before, after, *_ = trained
    assert after < before * 0.9, f"{method}: loss {before:.4f} -> {after:.4f}"


def test_identity_changes_with_training(trained):
    _, tuner, _, _, identity_before, _ = trained
    assert tuner.identity != identity_before


def test_save_load_round_trip_reproduces_vectors(trained):
    method, tuner, _, _, _, saved = trained
    loaded = load_tuner(saved)
    assert type(loaded) is type(tuner)
    tuner.eval()
    loaded.eval()
    with torch.no_grad():
        expected, got = tuner.all_items(), loaded.all_items()
        queries = ["vegan lipstick", "a new travel size shampoo"]
        expected_q, got_q = tuner.encode_texts(queries), loaded.encode_texts(queries)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_q, expected_q, atol=1e-6, rtol=0)
    assert loaded.identity == tuner.identity  # a vector cache stays valid across the reload


def test_saved_artifact_names_the_base_model_portably(trained):
    method, _, _, _, _, saved = trained
    files = {p.relative_to(saved).as_posix() for p in Path(saved).rglob("*") if p.is_file()}
    assert "tuner_config.json" in files and "item_texts.json" in files
    assert any(f.endswith(".safetensors") for f in files)
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)  # no pickle
    config = json.loads((saved / "tuner_config.json").read_text())
    assert config["method"] == METHODS[method][0] and config["base_model"] == "default"
    for path in Path(saved).rglob("*.json"):
        assert "site-packages" not in path.read_text(), path


def test_forward_keeps_index_shape_and_matches_uncached_text_path(trained):
    _, tuner, *_ = trained
    tuner.eval()
    idx = torch.tensor([[3, 3, 10], [63, 0, 10]])
    with torch.no_grad():
        vectors = tuner(idx)
        direct = tuner.encode_texts([tuner.item_texts[i] for i in (3, 10, 63)])
    assert vectors.shape == (2, 3, tuner.d_out)
    torch.testing.assert_close(vectors[0, 0], vectors[0, 1])
    torch.testing.assert_close(vectors[1, 0], direct[2], atol=1e-5, rtol=0)
    torch.testing.assert_close(vectors[0, 2], direct[1], atol=1e-5, rtol=0)


def test_empty_index_gives_an_empty_batch(trained):
    _, tuner, *_ = trained
    assert tuner(torch.zeros(0, 5, dtype=torch.long)).shape == (0, 5, tuner.d_out)


def test_all_items_is_the_batched_forward(trained):
    _, tuner, *_ = trained
    tuner.eval()
    with torch.no_grad():
        everything = tuner.all_items()
        some = tuner(torch.tensor([5, 40]))
    assert everything.shape == (64, tuner.d_out)
    torch.testing.assert_close(everything[[5, 40]], some, atol=1e-5, rtol=0)
