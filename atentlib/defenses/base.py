"""The one interface every defense implements: accumulate the weight-gradient of a batch's training objective."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..threat import Ball


@dataclass(frozen=True)
class StepOutput:
    loss: torch.Tensor  # scalar, detached: the batch's training objective
    x_train: torch.Tensor | None = None  # the inputs the loss was taken at (None: the clean inputs)


class Defense:
    """A training objective. `backward` adds grad_w of the objective into the parameters' .grad;
    the engine zeroes the gradients before and steps the optimiser after, so a defense never owns the loop.

    `ball` is the experiment's threat model; `set_eps_scale` shrinks it during an epsilon warm-up.
    Defenses with state (per-example radii, a second model) override state_dict/load_state_dict.
    """

    name: str = "base"

    def __init__(self, cfg, ball: Ball):
        self.cfg = cfg
        self.base_ball = ball
        self.eps_scale = 1.0

    @property
    def ball(self) -> Ball:
        return Ball(self.base_ball.norm, self.base_ball.eps * self.eps_scale)

    def set_eps_scale(self, scale: float) -> None:
        if not 0.0 <= scale <= 1.0:
            raise ValueError(f"eps scale must be in [0, 1], got {scale}")
        self.eps_scale = scale

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
