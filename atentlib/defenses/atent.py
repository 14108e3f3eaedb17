"""ATENT: train on the data-entropy loss mu estimated by the Langevin sampler (l2 or linf)."""
from __future__ import annotations

import torch
from torch import nn

from ..samplers import build_sampler
from ..threat import Ball
from .base import Defense, StepOutput


class ATENT(Defense):
    name = "atent"

    def __init__(self, cfg, ball: Ball):
        super().__init__(cfg, ball)
        self.sampler = build_sampler(cfg, ball.eps)

    def set_eps_scale(self, scale: float) -> None:
        super().set_eps_scale(scale)
        self.sampler.radius_scale = scale

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        result = self.sampler.accumulate(model, x, y)
        return StepOutput(result.mu, result.x_adv)
