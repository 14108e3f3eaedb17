"""FGSM (Goodfellow et al.): one step of length eps along the steepest-ascent direction of the loss."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..config_base import AttackConfigBase
from ..scoring import Attack
from ..threat import Ball, model_mode
from .pgd import LossFn, ce_loss
from .registry import AttackContext, AttackPlugin


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, loss_fn: LossFn = ce_loss) -> torch.Tensor:
    """x + eps*sign(g) in linf, x + eps*g/||g||_2 in l2 (g = grad_x loss at x), clipped to [0, 1].

    Model in eval mode, modes restored. Shapes: x [B, ...] in [0, 1], y [B] -> x_adv [B, ...] in the ball.
    On a linear model this is the exact worst case of the ball (when the box does not bind).
    """
    x = x.detach()
    with model_mode(model, False), torch.enable_grad():
        x_req = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(model(x_req), y).sum(), x_req)
    return ball.project(ball.step(x, grad, ball.eps), x).detach()


class FgsmAttack(AttackConfigBase):
    """One step of length eps along sign(grad) (linf) or grad/||grad|| (l2) of the cross-entropy."""

    kind: Literal["fgsm"]
    norm: Literal["linf", "l2"] = "linf"


def _build(a: FgsmAttack, model: nn.Module, context: AttackContext) -> Attack:
    ball = Ball(a.norm, a.eps)
    return lambda x, y: fgsm(model, x, y, ball)


PLUGINS = (AttackPlugin("fgsm", FgsmAttack, _build),)
