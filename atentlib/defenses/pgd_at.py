"""PGD adversarial training (Madry et al.): cross-entropy at the PGD maximiser inside the threat ball."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..attacks.pgd import pgd
from ..config_base import DefenseConfigBase
from .base import Defense, StepOutput
from .registry import DefensePlugin


class PgdAtDefense(DefenseConfigBase):
    """PGD adversarial training (Madry et al.): CE at the PGD maximiser."""

    kind: Literal["pgd_at"]
    steps: int = Field(10, ge=1)
    step_size: float = Field(0.01, gt=0)
    random_start: bool = True
    attack_mode: Literal["eval", "train"] = Field("eval", description="model mode while crafting x'")


class PGDAT(Defense):
    name = "pgd_at"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c = self.cfg
        if self.ball.eps > 0:
            x_adv = pgd(model, x, y, self.ball, steps=c.steps, step_size=c.step_size,
                        random_start=c.random_start, train_mode=c.attack_mode == "train")
        else:
            x_adv = x
        loss = F.cross_entropy(model(x_adv), y)
        loss.backward()
        return StepOutput(loss.detach(), x_adv)


PLUGINS = (DefensePlugin("pgd_at", PGDAT, PgdAtDefense, "PGD-AT"),)
