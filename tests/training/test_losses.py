"""Each ranking loss against a hand computation, plus log-Q correction and gradients."""

import math

import numpy as np
import pytest
import torch

from shelflm.training.losses import (
    BPRLoss,
    FullSoftmaxLoss,
    MSELoss,
    SampledSoftmaxLoss,
    build_ranking_loss,
)

USER = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
ITEMS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
TARGETS = torch.tensor([0, 2])


def test_full_softmax_matches_hand_computation():
    # Row 0 scores [1, 0, 1], target 0; row 1 scores [0, 2, 2], target 2.
    row0 = -math.log(math.e / (math.e + 1 + math.e))
    row1 = -math.log(math.e**2 / (1 + 2 * math.e**2))
    loss = FullSoftmaxLoss()(USER, TARGETS, ITEMS)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_full_softmax_gradient_is_softmax_minus_onehot():
    user = USER.clone().requires_grad_(True)
    FullSoftmaxLoss()(user, TARGETS, ITEMS).backward()
    probs = torch.softmax(USER @ ITEMS.T, dim=1)
    onehot = torch.nn.functional.one_hot(TARGETS, 3).float()
    expected = (probs - onehot) @ ITEMS / 2
    assert torch.allclose(user.grad, expected, atol=1e-6)


def test_sampled_softmax_log_q_correction_by_hand():
    q = np.array([0.5, 0.25, 0.25])
    loss = SampledSoftmaxLoss(q, num_negatives=2)
    negatives = torch.tensor([1, 2])
    logits = loss.logits(USER, TARGETS, ITEMS, negatives)
    # Row 0 (target 0): pos 1 - log .5, negs 0 - log .25 and 1 - log .25.
    expected0 = torch.tensor([1 - math.log(0.5), -math.log(0.25), 1 - math.log(0.25)])
    assert torch.allclose(logits[0], expected0, atol=1e-5)
    # Row 1's target (2) is also drawn as a negative: that accidental hit is masked out.
    assert torch.isinf(logits[1, 2]) and logits[1, 2] < 0
    value = loss(USER, TARGETS, ITEMS, negatives)
    by_hand = -torch.log_softmax(logits, dim=1)[:, 0].mean()
    assert value.item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_log_q_correction_removes_popularity_bias():
    # Skewed proposal: with correction, the gradient on the item table approximates the
    # full-softmax gradient; without it, popular negatives are over-penalised.
    torch.manual_seed(0)
    n_items, dim = 50, 8
    items = torch.randn(n_items, dim, requires_grad=True)
    user, targets = torch.randn(64, dim), torch.randint(0, n_items, (64,))
    q = np.linspace(10, 1, n_items) ** 2
    full = torch.autograd.grad(FullSoftmaxLoss()(user, targets, items), items)[0]

    def sampled_grad(correct: bool) -> torch.Tensor:
        loss = SampledSoftmaxLoss(q, num_negatives=2000, log_q_correction=correct)
        gen = torch.Generator().manual_seed(1)
        return torch.autograd.grad(loss(user, targets, items, loss.sample(gen)), items)[0]

    err_corrected = (sampled_grad(True) - full).norm()
    err_plain = (sampled_grad(False) - full).norm()
    assert err_corrected < 0.5 * err_plain


def test_bpr_matches_hand_computation():
    negatives = torch.tensor([1, 0])
    # Row 0: pos 1, neg 0; row 1: pos 2, neg 0.
    expected = -(math.log(1 / (1 + math.exp(-1))) + math.log(1 / (1 + math.exp(-2)))) / 2
    assert BPRLoss()(USER, TARGETS, ITEMS, negatives).item() == pytest.approx(expected, rel=1e-6)


def test_bpr_gradient_flows_to_users_and_items():
    user, items = USER.clone().requires_grad_(True), ITEMS.clone().requires_grad_(True)
    BPRLoss()(user, TARGETS, items).backward()
    assert user.grad.abs().sum() > 0 and items.grad.abs().sum() > 0


def test_mse_value_and_shape_check():
    assert MSELoss()(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0])).item() == 2.5
    with pytest.raises(ValueError, match="shape"):
        MSELoss()(torch.zeros(3), torch.zeros(3, 1))


def test_build_ranking_loss_rejects_unknown_names_and_bad_proposals():
    with pytest.raises(ValueError, match="unknown ranking loss"):
        build_ranking_loss("hinge")
    with pytest.raises(ValueError, match="popularity"):
        build_ranking_loss("sampled_softmax")
    with pytest.raises(ValueError, match="non-negative"):
        SampledSoftmaxLoss(np.array([-1.0, 2.0]))


def test_full_softmax_candidates_leave_other_items_out_of_the_softmax():
    # Item 1 is not a candidate: row 0 scores [1, -, 1] and row 1 scores [0, -, 2].
    items = ITEMS.clone().requires_grad_(True)
    loss = FullSoftmaxLoss(candidates=np.array([True, False, True]))(USER, TARGETS, items)
    row0 = -math.log(math.e / (math.e + math.e))
    row1 = -math.log(math.e**2 / (1 + math.e**2))
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    loss.backward()
    # A non-candidate is never pushed down, so its vector gets no gradient at all.
    assert torch.equal(items.grad[1], torch.zeros(2))
    with pytest.raises(ValueError, match="candidates"):
        FullSoftmaxLoss(candidates=np.array([True, False]))(USER, TARGETS, ITEMS)


def test_sampled_softmax_never_draws_non_candidates():
    loss = build_ranking_loss("sampled_softmax", np.array([5.0, 0.0, 3.0, 0.0]), 500,
                              candidates=np.array([True, False, True, False]))
    drawn = set(loss.sample().tolist())
    assert drawn == {0, 2}
