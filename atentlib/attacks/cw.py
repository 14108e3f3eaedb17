"""CW-linf as TRADES and MART evaluate it: PGD on the Carlini-Wagner margin loss max_{j != y} z_j - z_y."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..scoring import Attack
from ..threat import Ball
from .pgd import IterativeAttackConfig, pgd
from .registry import AttackContext, AttackPlugin


def cw_margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example max_{j != y} z_j - z_y (> 0 exactly when misclassified). logits [B, C], y [B] -> [B]."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), -float("inf")).amax(1)
    return other - true


def cw_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, step_size: float,
            restarts: int = 1, random_start: bool = True) -> torch.Tensor:
    """PGD in the linf ball of radius eps on the CW margin loss; worst case over restarts, model in eval mode."""
    return pgd(model, x, y, Ball("linf", eps), steps=steps, step_size=step_size, restarts=restarts,
               random_start=random_start, loss_fn=cw_margin_loss)


class CwLinfAttack(IterativeAttackConfig):
    """PGD on the CW margin loss max_{j != y} z_j - z_y, as TRADES and MART evaluate "CW-linf"."""

    kind: Literal["cw_linf"]
    norm: Literal["linf"] = "linf"


def _build(a: CwLinfAttack, model: nn.Module, context: AttackContext) -> Attack:
    return lambda x, y: cw_linf(model, x, y, a.eps, a.steps, a.step_size, a.restarts, a.random_start)


PLUGINS = (AttackPlugin("cw_linf", CwLinfAttack, _build),)
