"""Adversarial training: worst-case small perturbations of vectors, as a regulariser.

FGM (Miyato et al. 2017) takes one step of size epsilon along the normalised loss gradient;
PGD (Madry et al. 2018) takes several smaller steps, projecting back into the epsilon-ball.
Applied to the input item vectors of the user tower (`target="inputs"`), or, APR-style
(He et al., SIGIR 2018), to the user and item representations that are scored
(`target="representations"`). The same functions perturb LM token embeddings when the
language model itself trains (any tensor the loss is a function of).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from shelflm.training.config import AdversarialConfig

LossOfPerturbation = Callable[[Sequence[torch.Tensor]], torch.Tensor]


def _unit_rows(grad: torch.Tensor) -> torch.Tensor:
    """Each last-axis row scaled to unit L2 norm (zero rows stay zero)."""
    return grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def project_rows(delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Shrink rows whose L2 norm exceeds epsilon back onto the epsilon-ball."""
    norm = delta.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return delta * torch.clamp(epsilon / norm, max=1.0)


def fgm_perturbation(
    loss_fn: LossOfPerturbation, shapes: Sequence[torch.Size], epsilon: float,
    device: torch.device | None = None,
) -> list[torch.Tensor]:
    """One gradient step of norm epsilon per row, for each perturbed tensor (detached)."""
    zeros = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    # retain_graph: the perturbed loss shares the model's graph with the main loss.
    grads = torch.autograd.grad(loss_fn(zeros), zeros, allow_unused=True, retain_graph=True)
    return [
        torch.zeros(z.shape, device=device) if g is None else epsilon * _unit_rows(g.detach())
        for z, g in zip(zeros, grads, strict=True)
    ]


def pgd_perturbation(
    loss_fn: LossOfPerturbation, shapes: Sequence[torch.Size], epsilon: float,
    steps: int = 3, alpha: float | None = None, device: torch.device | None = None,
) -> list[torch.Tensor]:
    """Projected gradient ascent inside the epsilon-ball, `steps` times (detached)."""
    alpha = alpha if alpha is not None else 1.5 * epsilon / steps
    deltas = [torch.zeros(s, device=device) for s in shapes]
    for _ in range(steps):
        live = [d.clone().requires_grad_(True) for d in deltas]
        grads = torch.autograd.grad(loss_fn(live), live, allow_unused=True, retain_graph=True)
        deltas = [
            d if g is None else project_rows(d + alpha * _unit_rows(g), epsilon)
            for d, g in zip(deltas, grads, strict=True)
        ]
    return deltas


def adversarial_loss(
    config: AdversarialConfig, loss_fn: LossOfPerturbation, shapes: Sequence[torch.Size],
    device: torch.device | None = None,
) -> torch.Tensor:
    """weight * loss at the worst perturbation found (0 when switched off)."""
    if not config.enabled:
        return torch.zeros((), device=device)
    if config.method == "fgm":
        deltas = fgm_perturbation(loss_fn, shapes, config.epsilon, device)
    else:
        deltas = pgd_perturbation(loss_fn, shapes, config.epsilon, config.pgd_steps,
                                  config.pgd_alpha, device)
    return config.weight * loss_fn(deltas)
