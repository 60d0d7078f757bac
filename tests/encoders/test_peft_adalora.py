"""AdaLoRA wired for an encoder: the orthogonal regulariser and the rank reallocation."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from shelflm.encoders.peft.config import AdaLoraTunerConfig  # noqa: E402
from shelflm.encoders.peft.registry import build_tuner  # noqa: E402

TITLES = [f"{w} {c}" for c in ("lipstick", "shampoo", "perfume", "sunscreen")
          for w in ("matte", "vegan", "deluxe", "mini")]


def make(**options) -> object:
    """An AdaLoRA tuner on 16 tiny titles."""
    torch.manual_seed(0)
    config = AdaLoraTunerConfig(max_length=8, init_r=4, target_r=2, **options)
    return build_tuner(config, TITLES)


def lora_factors(tuner) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in tuner.named_parameters() if "lora_A" in n or "lora_B" in n}


def test_orthogonal_regulariser_is_non_zero_and_has_gradients():
    tuner = make(total_step=10, orth_reg_weight=0.5)
    reg = tuner.extra_loss()
    assert reg.ndim == 0 and float(reg) > 0
    reg.backward()
    factors = lora_factors(tuner)
    assert factors and all(p.grad is not None and p.grad.abs().sum() > 0 for p in factors.values())


def test_regulariser_matches_the_peft_formula_and_scales_with_its_weight():
    tuner = make(total_step=10, orth_reg_weight=0.25)
    terms = []
    for name, p in lora_factors(tuner).items():
        cov = p @ p.T if "lora_A" in name else p.T @ p
        terms.append(torch.norm(cov - torch.eye(cov.shape[0]), p="fro"))
    expected = 0.25 * torch.stack(terms).mean()
    torch.testing.assert_close(tuner.extra_loss(), expected)
    assert float(make(total_step=10, orth_reg_weight=0.0).extra_loss()) == 0.0


def test_update_and_allocate_prunes_ranks_to_the_budget():
    steps = 6
    tuner = make(total_step=steps, tinit=1, tfinal=2)
    optimizer = torch.optim.AdamW(tuner.trainable_parameters(), lr=1e-2)
    active = []
    for step in range(steps):
        loss = tuner(torch.arange(8)).sum()
        (loss + tuner.extra_loss()).backward()
        optimizer.step()
        tuner.after_optimizer_step(step)  # needs the gradients: before zero_grad
        optimizer.zero_grad()
        e_values = [p for n, p in tuner.named_parameters() if "lora_E" in n]
        active.append(sum(int((p != 0).sum()) for p in e_values))
    modules = len(e_values)
    # Every singular value starts active (E is zero-initialised, so count after the first step);
    # from step total_step - tfinal on, the ranks left add up to target_r per module on average.
    assert active[0] == 4 * modules
    assert active[-1] <= 2 * modules < active[0]
    rank_pattern = tuner.model.peft_config["default"].rank_pattern
    assert rank_pattern and len(rank_pattern) == modules


@pytest.mark.parametrize("options, field", [
    ({"total_step": 0}, "total_step"),
    ({"total_step": 10, "tinit": 8, "tfinal": 2}, "tinit"),
    ({"total_step": 10, "target_r": 9}, "target_r"),
])
def test_bad_schedules_are_rejected_by_name(options, field):
    base = {"init_r": 4, "target_r": 2} | options
    with pytest.raises(ValueError, match=field):
        AdaLoraTunerConfig(**base)
