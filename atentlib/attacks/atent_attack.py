"""ATENT as an attack (Table S3 of Jagatap et al.): the linf Langevin sampler's last iterate x^K, model in eval mode.

With PGD-20's budget: K = steps, eta' = step_size, radius = eps. The sampler (atentlib.samplers.AtentLinf) draws a
corner start x + eps*sign(N), takes K signed-gradient steps with noise, and projects onto the ball (at the end by
default, as the authors' code does); the result is projected once more so every variant lands in the ball.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import AtentLinfDefense
from ..samplers import AtentLinf
from ..threat import Ball


def atent_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, step_size: float,
                 noise: float = 1e-3, start: str = "corner", projection: str = "final",
                 step_direction: str = "sign") -> torch.Tensor:
    """x^K of linf-ATENT's chain at radius eps; x [B, ...] in [0, 1] -> x_adv [B, ...] in the ball and [0, 1]."""
    if eps == 0:
        return x.detach().clone()
    cfg = AtentLinfDefense(kind="atent_linf", K=steps, radius=eps, step_size=step_size, noise=noise, start=start,
                           projection=projection, step_direction=step_direction, model_mode="eval")
    x_adv = AtentLinf(cfg).sample(model, x, y)
    return Ball("linf", eps).project(x_adv, x.detach())
