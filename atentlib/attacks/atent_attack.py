"""ATENT as an attack (Table S3 of Jagatap et al.): the linf Langevin sampler's last iterate x^K, model in eval mode.

With PGD-20's budget: K = steps, eta' = step_size, radius = eps. The sampler (atentlib.samplers.AtentLinf) draws a
corner start x + eps*sign(N), takes K signed-gradient steps with noise, and projects onto the ball (at the end by
default, as the authors' code does); the result is projected once more so every variant lands in the ball.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ..config_base import AttackConfigBase
from ..samplers import AtentLinf, AtentLinfDefense
from ..scoring import Attack
from ..threat import Ball
from .registry import AttackContext, AttackPlugin


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


class AtentAttack(AttackConfigBase):
    """linf-ATENT's Langevin sampler used as an attack (Table S3): K = steps, radius = eps, model in eval mode."""

    kind: Literal["atent"]
    norm: Literal["linf"] = "linf"
    steps: int = Field(..., ge=1, description="K, Langevin steps")
    step_size: float = Field(..., gt=0, description="eta'")
    noise: float = Field(1e-3, ge=0, description="noise scale epsilon of the Langevin step")
    start: Literal["corner", "normal", "uniform"] = "corner"
    projection: Literal["final", "every_step", "clip_last_step"] = "final"
    step_direction: Literal["sign", "raw"] = "sign"


def _build(a: AtentAttack, model: nn.Module, context: AttackContext) -> Attack:
    return lambda x, y: atent_attack(model, x, y, a.eps, a.steps, a.step_size, a.noise, a.start, a.projection,
                                     a.step_direction)


PLUGINS = (AttackPlugin("atent", AtentAttack, _build),)
