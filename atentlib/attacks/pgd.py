"""Projected gradient ascent (Madry et al.) in linf or l2: the one PGD loop of the package.

Evaluation's PGD and CW-linf, the engine's monitor, and the training attacks of PGD-AT, TRADES, MART, MMA (AN-PGD)
and ACT all run `pgd`; they differ only in what they pass: the ball (one radius, or one per example), where the
ascent starts (the ball's random start, or a start of their own), the loss (per example and summed, or a scalar
such as MART's batch mean or TRADES's summed KL) and the model's mode.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..config_base import AttackConfigBase
from ..scoring import Attack
from ..threat import Ball, Radius, model_mode
from .registry import AttackContext, AttackPlugin

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, y) -> loss [B], or a scalar


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy."""
    return F.cross_entropy(logits, y, reduction="none")


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int, step_size: Radius,
        restarts: int = 1, random_start: bool = True, loss_fn: LossFn = ce_loss,
        train_mode: bool = False, start: torch.Tensor | None = None) -> torch.Tensor:
    """Maximise loss_fn inside `ball` around x; the worst case per example over `restarts` runs.

    Each run starts at `start` when given (then restarts must be 1), else at the ball's random start when
    random_start, else at x; it takes `steps` ascent steps of `step_size` (a float, or one per example [B]) on
    loss_fn, summed over the batch when it is per example (a scalar loss is differentiated as it is), each
    projected onto the ball. Per example, a restart that misclassifies beats one that does not; among equals the
    higher loss wins (per-example losses only). The model runs in eval mode unless train_mode (PGD-AT's choice),
    and its modes are restored afterwards.
    Shapes: x [B, ...] in [0, 1], y [B]; returns x_adv [B, ...] with ||x_adv - x|| <= eps and in [0, 1].
    """
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got steps={steps}, restarts={restarts}")
    if start is not None and restarts != 1:
        raise ValueError(f"a given start serves one run: restarts must be 1, got {restarts}")
    x, y = x.detach(), y.detach()
    best = x.clone()
    best_key = torch.full((len(x),), -float("inf"), device=x.device)
    with model_mode(model, train_mode), torch.enable_grad():
        for _ in range(restarts):
            if start is not None:
                x_adv = start.detach().clone()
            else:
                x_adv = ball.random_start(x) if random_start else x.clone()
            for _ in range(steps):
                x_adv.requires_grad_(True)
                loss = loss_fn(model(x_adv), y)
                (grad,) = torch.autograd.grad(loss.sum() if loss.dim() else loss, x_adv)
                x_adv = ball.project(ball.step(x_adv.detach(), grad, step_size), x)
            if restarts == 1:
                return x_adv.detach()  # nothing to choose between: skip the scoring forward pass
            with torch.no_grad():
                logits = model(x_adv)
                # key: misclassified first (offset 1e6), then higher loss
                key = loss_fn(logits, y) + 1e6 * (logits.argmax(1) != y).float()
                better = key > best_key
                best[better] = x_adv[better]
                best_key = torch.where(better, key, best_key)
    return best.detach()


class IterativeAttackConfig(AttackConfigBase):
    """Fields of the PGD-style attacks: steps of a given size from a random start, worst case over restarts."""

    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0)
    restarts: int = Field(1, ge=1)
    random_start: bool = True


class PgdAttack(IterativeAttackConfig):
    """PGD on cross-entropy (atentlib.attacks.pgd), worst case over restarts. `kind` may be left out."""

    kind: Literal["pgd"] = "pgd"
    norm: Literal["linf", "l2"]


def _build(a: PgdAttack, model: nn.Module, context: AttackContext) -> Attack:
    ball = Ball(a.norm, a.eps)
    return lambda x, y: pgd(model, x, y, ball, a.steps, a.step_size, a.restarts, a.random_start)


PLUGINS = (AttackPlugin("pgd", PgdAttack, _build),)
