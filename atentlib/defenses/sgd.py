"""Plain empirical risk minimisation: cross-entropy on the clean inputs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Defense, StepOutput


class SGD(Defense):
    name = "sgd"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return StepOutput(loss.detach())
