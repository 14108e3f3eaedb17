"""Plain empirical risk minimisation: cross-entropy on the clean inputs."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config_base import DefenseConfigBase
from .base import Defense, StepOutput
from .registry import DefensePlugin


class SgdDefense(DefenseConfigBase):
    """Plain empirical risk minimisation."""

    kind: Literal["sgd"]


class SGD(Defense):
    name = "sgd"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return StepOutput(loss.detach())


PLUGINS = (DefensePlugin("sgd", SGD, SgdDefense, "SGD"),)
