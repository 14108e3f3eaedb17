"""Projected gradient descent (Madry et al.) in linf or l2, with random start and restarts."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..threat import Ball, model_mode

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy."""
    return F.cross_entropy(logits, y, reduction="none")


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int, step_size: float,
        restarts: int = 1, random_start: bool = True, loss_fn: LossFn = ce_loss,
        train_mode: bool = False) -> torch.Tensor:
    """Maximise loss_fn inside `ball` around x; the worst case per example over `restarts` runs.

    Per example, a restart that misclassifies beats one that does not; among equals the higher loss wins.
    The model runs in eval mode unless train_mode (PGD-AT's choice), and its modes are restored afterwards.
    Shapes: x [B, ...] in [0, 1], y [B]; returns x_adv [B, ...] with ||x_adv - x|| <= eps and in [0, 1].
    """
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got steps={steps}, restarts={restarts}")
    x, y = x.detach(), y.detach()
    best = x.clone()
    best_key = torch.full((len(x),), -float("inf"), device=x.device)
    with model_mode(model, train_mode), torch.enable_grad():
        for _ in range(restarts):
            x_adv = ball.random_start(x) if random_start else x.clone()
            for _ in range(steps):
                x_adv.requires_grad_(True)
                loss = loss_fn(model(x_adv), y).sum()
                (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = ball.project(ball.step(x_adv.detach(), grad, step_size), x)
            if restarts == 1:
                return x_adv.detach()  # nothing to choose between: skip the scoring forward pass
            with torch.no_grad():
                logits = model(x_adv)
                # key: misclassified first (offset 1e6), then higher loss
                key = loss_fn(logits, y) + 1e6 * (logits.argmax(1) != y).float()
                better = key > best_key
                best[better] = x_adv[better]
                best_key = torch.where(better, key, best_key)
    return best.detach()
