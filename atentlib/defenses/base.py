"""The one interface every defense implements: accumulate the weight-gradient of a batch's training objective.

Every defense is built the same way, `cls(cfg, ball, context)`: its validated config, the experiment's threat ball,
and a DefenseContext with what some defenses need of the run beyond that (ACT builds a second model of the
experiment's architecture and an optimiser like the engine's).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field
from torch import nn

from ..config_base import DefenseConfigBase
from ..threat import Ball


@dataclass(frozen=True)
class StepOutput:
    loss: torch.Tensor  # scalar, detached: the batch's training objective
    x_train: torch.Tensor | None = None  # the inputs the loss was taken at (None: the clean inputs)


@dataclass(frozen=True)
class DefenseContext:
    """The run a defense is built for: the experiment's model name and number of classes, the engine's optimiser
    of the model, and the device. Defenses that need none of these ignore it."""

    model_name: str | None = None
    num_classes: int = 10
    optimizer: torch.optim.Optimizer | None = None
    device: torch.device | str | None = None


class Defense:
    """A training objective. `backward` adds grad_w of the objective into the parameters' .grad;
    the engine zeroes the gradients before and steps the optimiser after, so a defense never owns the loop.

    `ball` is the experiment's threat model; `set_eps_scale` shrinks it during an epsilon warm-up.
    Defenses with state (per-example radii, a second model) override state_dict/load_state_dict.
    """

    name: str = "base"

    def __init__(self, cfg, ball: Ball, context: DefenseContext | None = None):
        self.cfg = cfg
        self.base_ball = ball
        self.context = context or DefenseContext()
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


class PgdCraftedConfig(DefenseConfigBase):
    """Defenses whose x' comes from PGD in the experiment's ball from x + start_std * N(0, I)."""

    steps: int = Field(10, ge=1, description="PGD steps (CIFAR 10, MNIST 40)")
    step_size: float = Field(0.007, gt=0, description="PGD step (CIFAR 0.007, MNIST 0.01)")
    start_std: float = Field(0.001, ge=0, description="std of the normal start x + start_std * N(0, I)")
