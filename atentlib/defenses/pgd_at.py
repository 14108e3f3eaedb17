"""PGD adversarial training (Madry et al.): cross-entropy at the PGD maximiser inside the threat ball."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.pgd import pgd
from .base import Defense, StepOutput


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
