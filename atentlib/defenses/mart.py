"""MART (Wang et al. 2020): misclassification-aware adversarial training.

    loss = (1/B) sum_i [ BCE(p(x'_i), y_i) + beta * KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i)) ]
    BCE(p', y) = -log p'_y - log(1 - max_{k != y} p'_k)

x' by CE PGD in the experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting (authors' code);
the loss is taken in train mode. As in the authors' code the weight 1 - p_y(x) is not detached, and the
constants 1.0001 / 1e-12 / 1.0000001 keep the logarithms finite.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..attacks.pgd import pgd
from ..threat import Ball
from .base import Defense, PgdCraftedConfig, StepOutput
from .registry import DefensePlugin


class MartDefense(PgdCraftedConfig):
    """MART (Wang et al.): boosted CE at x' + beta * mean_i KL(p(x_i) || p(x'_i)) (1 - p_y(x_i)), x' by CE PGD
    in the experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting."""

    kind: Literal["mart"]
    beta: float = Field(6.0, ge=0, description="weight of the misclassification-aware KL term")


def ce_pgd_from_normal(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int,
                       step_size: float, start_std: float = 0.001) -> torch.Tensor:
    """PGD on the batch-mean CE started at x + start_std N(0, I) (eval mode), projected on the ball and [0, 1] each
    step, and once more at the end (as the authors' code)."""
    x = x.detach()
    x_adv = pgd(model, x, y, ball, steps, step_size, start=x + start_std * torch.randn_like(x),
                loss_fn=lambda logits, yy: F.cross_entropy(logits, yy))
    return ball.project(x_adv, x)


def mart_terms(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example pieces of MART's loss: bce [B], kl [B] (KL(p(x) || p(x')) summed over classes),
    weight [B] (= 1 - p_y(x))."""
    adv_probs = F.softmax(logits_adv, dim=1)
    top2 = adv_probs.argsort(dim=1)[:, -2:]
    wrong = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])  # the most likely wrong class
    bce = F.cross_entropy(logits_adv, y, reduction="none") + F.nll_loss(
        torch.log(1.0001 - adv_probs + 1e-12), wrong, reduction="none")
    nat_probs = F.softmax(logits_nat, dim=1)
    kl = F.kl_div(torch.log(adv_probs + 1e-12), nat_probs, reduction="none").sum(dim=1)
    weight = 1.0000001 - nat_probs.gather(1, y[:, None]).squeeze(1)
    return {"bce": bce, "kl": kl, "weight": weight}


class MART(Defense):
    name = "mart"

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c = self.cfg
        ball = self.ball
        x_adv = ce_pgd_from_normal(model, x, y, ball, c.steps, c.step_size, c.start_std) if ball.eps > 0 else x
        t = mart_terms(model(x), model(x_adv), y)
        loss = t["bce"].mean() + c.beta * (t["kl"] * t["weight"]).mean()
        loss.backward()
        return StepOutput(loss.detach(), x_adv)


PLUGINS = (DefensePlugin("mart", MART, MartDefense, "MART"),)
