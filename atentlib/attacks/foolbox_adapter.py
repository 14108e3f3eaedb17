"""foolbox 3 attacks behind the (model, x, y, ...) -> x_adv interface: LinfPGD/L2PGD, CW-l2, DeepFool.

Each runs on foolbox.PyTorchModel(model, bounds=(0, 1)) with the model in eval mode (modes restored). foolbox's
minimisation attacks (CW, DeepFool) find an unbounded adversarial; it is clipped to the ball of radius eps, so the
returned point is in the ball and in [0, 1] and may no longer fool the model (then the example counts as robust).
foolbox is imported on first use, so that importing the attacks (training does) does not load it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from torch import nn

from ..config_base import AttackConfigBase
from ..scoring import Attack
from ..threat import Ball, Norm, model_mode
from .registry import AttackContext, AttackPlugin

if TYPE_CHECKING:
    import foolbox as fb


def _run(attack: fb.attacks.base.Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
         epsilon: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(raw, clipped, success) of a foolbox attack at one epsilon (None: unbounded, minimisation attacks)."""
    x, y = x.detach(), y.detach()
    if len(x) == 0:  # foolbox's input check fails on an empty batch
        return x.clone(), x.clone(), torch.zeros(0, dtype=torch.bool, device=x.device)
    import foolbox as fb

    with model_mode(model, False), torch.enable_grad():
        fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0), device=x.device)
        raw, clipped, success = attack(fmodel, x, y, epsilons=epsilon)
    return raw.detach(), clipped.detach(), success.detach()


def n_classes(model: nn.Module, x: torch.Tensor) -> int:
    with model_mode(model, False), torch.no_grad():
        return int(model(x[:1]).shape[1])


def foolbox_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int, step_size: float,
                random_start: bool = True) -> torch.Tensor:
    """foolbox LinfPGD / L2PGD on cross-entropy with an absolute step size (one run, no restarts)."""
    import foolbox as fb

    cls = fb.attacks.LinfPGD if ball.norm == "linf" else fb.attacks.L2PGD
    attack = cls(abs_stepsize=step_size, steps=steps, random_start=random_start)
    _, clipped, _ = _run(attack, model, x, y, ball.eps)
    return ball.project(clipped, x)


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 1000,
          binary_search_steps: int = 9, step_size: float = 0.01, confidence: float = 0.0,
          initial_const: float = 1e-3, abort_early: bool = True) -> torch.Tensor:
    """foolbox L2CarliniWagnerAttack, its adversarial clipped to the l2 ball of radius eps."""
    import foolbox as fb

    attack = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=binary_search_steps, steps=steps,
                                              stepsize=step_size, confidence=confidence,
                                              initial_const=initial_const, abort_early=abort_early)
    _, clipped, _ = _run(attack, model, x, y, eps)
    return Ball("l2", eps).project(clipped, x)


def _deepfool_attack(norm: Norm, steps: int, candidates: int, overshoot: float, loss: str):
    import foolbox as fb

    cls = fb.attacks.LinfDeepFoolAttack if norm == "linf" else fb.attacks.L2DeepFoolAttack
    return cls(steps=steps, candidates=candidates, overshoot=overshoot, loss=loss)


def deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int = 50, candidates: int = 10,
             overshoot: float = 0.02, loss: str = "logits") -> torch.Tensor:
    """foolbox DeepFool (l2 or linf), clipped to the ball; `candidates` is capped at the number of classes."""
    attack = _deepfool_attack(ball.norm, steps, min(candidates, n_classes(model, x)), overshoot, loss)
    _, clipped, _ = _run(attack, model, x, y, ball.eps)
    return ball.project(clipped, x)


class FoolboxPgdAttack(AttackConfigBase):
    """foolbox 3 LinfPGD / L2PGD (an independent implementation of PGD, for cross-checking ours)."""

    kind: Literal["foolbox_pgd"]
    norm: Literal["linf", "l2"]
    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0, description="absolute step size (foolbox abs_stepsize)")
    random_start: bool = True


class CwL2Attack(AttackConfigBase):
    """foolbox L2CarliniWagnerAttack; its minimal adversarial is clipped to the l2 ball of radius eps."""

    kind: Literal["cw_l2"]
    norm: Literal["l2"] = "l2"
    steps: int = Field(1000, ge=1, description="optimisation steps per binary-search step")
    binary_search_steps: int = Field(9, ge=1)
    step_size: float = Field(0.01, gt=0, description="Adam learning rate")
    confidence: float = Field(0.0, ge=0)
    initial_const: float = Field(1e-3, gt=0)


class DeepFoolAttack(AttackConfigBase):
    """foolbox L2DeepFoolAttack / LinfDeepFoolAttack, clipped to the ball of radius eps."""

    kind: Literal["deepfool"]
    norm: Literal["linf", "l2"]
    steps: int = Field(50, ge=1)
    candidates: int = Field(10, ge=2, description="most likely classes tried (capped at the number of classes)")
    overshoot: float = Field(0.02, ge=0)
    loss: Literal["logits", "crossentropy"] = "logits"


def _build_pgd(a: FoolboxPgdAttack, model: nn.Module, context: AttackContext) -> Attack:
    ball = Ball(a.norm, a.eps)
    return lambda x, y: foolbox_pgd(model, x, y, ball, a.steps, a.step_size, a.random_start)


def _build_cw_l2(a: CwL2Attack, model: nn.Module, context: AttackContext) -> Attack:
    return lambda x, y: cw_l2(model, x, y, a.eps, a.steps, a.binary_search_steps, a.step_size, a.confidence,
                              a.initial_const)


def _build_deepfool(a: DeepFoolAttack, model: nn.Module, context: AttackContext) -> Attack:
    ball = Ball(a.norm, a.eps)
    return lambda x, y: deepfool(model, x, y, ball, a.steps, a.candidates, a.overshoot, a.loss)


PLUGINS = (AttackPlugin("foolbox_pgd", FoolboxPgdAttack, _build_pgd), AttackPlugin("cw_l2", CwL2Attack, _build_cw_l2),
           AttackPlugin("deepfool", DeepFoolAttack, _build_deepfool))
