"""TRADES (Zhang et al. 2019): CE on natural inputs plus beta times the KL between the natural and the
adversarial output distributions, x' maximising that KL inside the threat ball.

    loss = CE(f(x), y) + beta * (1/B) sum_i KL(softmax f(x_i) || softmax f(x'_i))

As the authors' code: x' starts at x + 0.001 N(0, I), ascends the summed KL with the model in eval mode
(steepest ascent of the experiment's norm: sign step for linf, normalised step for l2), is projected onto the
ball and [0, 1] after each step; the loss is then taken in train mode with gradients through both terms.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..attacks.pgd import pgd
from ..threat import Ball, model_mode
from .base import Defense, PgdCraftedConfig, StepOutput
from .registry import DefensePlugin


class TradesDefense(PgdCraftedConfig):
    """TRADES (Zhang et al.): CE(f(x)) + beta * KL(f(x) || f(x')) / B, x' maximising the KL by PGD in the
    experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting. Defaults: CIFAR linf."""

    kind: Literal["trades"]
    beta: float = Field(6.0, ge=0, description="weight of the KL term (1/lambda); 6 in the papers, 5 in ACT's runs")


def kl_sum(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """sum_i KL(softmax p_i || softmax q_i) over the batch (a scalar)."""
    return F.kl_div(F.log_softmax(logits_q, dim=1), F.softmax(logits_p, dim=1), reduction="sum")


def trades_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int, step_size: float,
                  start_std: float = 0.001) -> torch.Tensor:
    """x' maximising sum_i KL(f(x_i) || f(x'_i)) in `ball` (eval mode; the labels y play no part);
    x [B, ...] in [0, 1] -> x' same shape.

    PGD from x + start_std N(0, I) on the summed KL against the fixed natural logits, then projected once more
    (as the authors' code returns it)."""
    x = x.detach()
    with model_mode(model, False), torch.no_grad():
        logits_nat = model(x)
    start = x + start_std * torch.randn_like(x)
    x_adv = pgd(model, x, y, ball, steps, step_size, start=start,
                loss_fn=lambda logits, _: kl_sum(logits_nat, logits))
    return ball.project(x_adv, x)


class TRADES(Defense):
    name = "trades"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c = self.cfg
        ball = self.ball
        x_adv = trades_attack(model, x, y, ball, c.steps, c.step_size, c.start_std) if ball.eps > 0 else x
        logits = model(x)
        loss = F.cross_entropy(logits, y) + c.beta * kl_sum(logits, model(x_adv)) / len(x)
        loss.backward()
        return StepOutput(loss.detach(), x_adv)


PLUGINS = (DefensePlugin("trades", TRADES, TradesDefense, "TRADES"),)
