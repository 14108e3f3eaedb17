"""ATENT: train on the data-entropy loss mu estimated by the Langevin sampler (l2 or linf).

Two kinds, atent_linf and atent_l2, one class: the kind picks the sampler. Their config classes are the samplers'
settings and live beside them (atentlib.samplers), where the ATENT attack reads them too.
"""
from __future__ import annotations

import torch
from torch import nn

from ..samplers import AtentL2Defense, AtentLinfDefense, build_sampler
from ..threat import Ball
from .base import Defense, DefenseContext, StepOutput
from .registry import DefensePlugin


class ATENT(Defense):
    name = "atent"

    def __init__(self, cfg: AtentLinfDefense | AtentL2Defense, ball: Ball, context: DefenseContext | None = None):
        super().__init__(cfg, ball, context)
        self.sampler = build_sampler(cfg, ball.eps)

    def set_eps_scale(self, scale: float) -> None:
        super().set_eps_scale(scale)
        self.sampler.radius_scale = scale

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        result = self.sampler.accumulate(model, x, y)
        return StepOutput(result.mu, result.x_adv)


PLUGINS = (DefensePlugin("atent_linf", ATENT, AtentLinfDefense, "ATENT-linf"),
           DefensePlugin("atent_l2", ATENT, AtentL2Defense, "ATENT-l2"))
