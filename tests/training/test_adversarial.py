"""Adversarial perturbations: bounded by epsilon, loss-increasing, and gradients still flow."""

import pytest
import torch

from shelflm.training.adversarial import (
    adversarial_loss,
    fgm_perturbation,
    pgd_perturbation,
)
from shelflm.training.config import AdversarialConfig


def _linear_setup():
    torch.manual_seed(0)
    w = torch.randn(4, 3, requires_grad=True)
    x = torch.randn(4, 3)

    def loss_fn(deltas):
        return ((x + deltas[0]) * w).sum() + ((x + deltas[0]) ** 2).sum() * 0.1

    return w, x, loss_fn


def test_fgm_rows_have_norm_epsilon_and_increase_the_loss():
    w, x, loss_fn = _linear_setup()
    deltas = fgm_perturbation(loss_fn, [x.shape], epsilon=0.3)
    norms = deltas[0].norm(dim=-1)
    assert torch.allclose(norms, torch.full((4,), 0.3), atol=1e-5)
    assert loss_fn(deltas) > loss_fn([torch.zeros_like(x)])


def test_pgd_stays_inside_the_epsilon_ball_and_beats_no_perturbation():
    w, x, loss_fn = _linear_setup()
    deltas = pgd_perturbation(loss_fn, [x.shape], epsilon=0.2, steps=5, alpha=0.15)
    assert (deltas[0].norm(dim=-1) <= 0.2 + 1e-5).all()
    assert loss_fn(deltas) > loss_fn([torch.zeros_like(x)])


@pytest.mark.parametrize("method", ["fgm", "pgd"])
def test_adversarial_loss_sends_gradients_to_the_parameters(method):
    w, x, loss_fn = _linear_setup()
    loss = adversarial_loss(AdversarialConfig(method=method, epsilon=0.1, weight=0.5),
                            loss_fn, [x.shape])
    loss.backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_switched_off_adds_nothing_and_bad_config_is_rejected():
    _, x, loss_fn = _linear_setup()
    assert adversarial_loss(AdversarialConfig(), loss_fn, [x.shape]).item() == 0.0
    with pytest.raises(ValueError, match="epsilon"):
        AdversarialConfig(method="fgm", epsilon=0.0)
    with pytest.raises(ValueError, match="unknown method"):
        AdversarialConfig(method="free")
