"""foolbox 3 attacks behind the (model, x, y, ...) -> x_adv interface: LinfPGD/L2PGD, CW-l2, DeepFool.

Each runs on foolbox.PyTorchModel(model, bounds=(0, 1)) with the model in eval mode (modes restored). foolbox's
minimisation attacks (CW, DeepFool) find an unbounded adversarial; it is clipped to the ball of radius eps, so the
returned point is in the ball and in [0, 1] and may no longer fool the model (then the example counts as robust).
"""
from __future__ import annotations

import foolbox as fb
import torch
from torch import nn

from ..threat import Ball, Norm, model_mode


def _run(attack: fb.attacks.base.Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
         epsilon: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(raw, clipped, success) of a foolbox attack at one epsilon (None: unbounded, minimisation attacks)."""
    x, y = x.detach(), y.detach()
    if len(x) == 0:  # foolbox's input check fails on an empty batch
        return x.clone(), x.clone(), torch.zeros(0, dtype=torch.bool, device=x.device)
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
    cls = fb.attacks.LinfPGD if ball.norm == "linf" else fb.attacks.L2PGD
    attack = cls(abs_stepsize=step_size, steps=steps, random_start=random_start)
    _, clipped, _ = _run(attack, model, x, y, ball.eps)
    return ball.project(clipped, x)


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 1000,
          binary_search_steps: int = 9, step_size: float = 0.01, confidence: float = 0.0,
          initial_const: float = 1e-3, abort_early: bool = True) -> torch.Tensor:
    """foolbox L2CarliniWagnerAttack, its adversarial clipped to the l2 ball of radius eps."""
    attack = fb.attacks.L2CarliniWagnerAttack(binary_search_steps=binary_search_steps, steps=steps,
                                              stepsize=step_size, confidence=confidence,
                                              initial_const=initial_const, abort_early=abort_early)
    _, clipped, _ = _run(attack, model, x, y, eps)
    return Ball("l2", eps).project(clipped, x)


def _deepfool_attack(norm: Norm, steps: int, candidates: int, overshoot: float, loss: str):
    cls = fb.attacks.LinfDeepFoolAttack if norm == "linf" else fb.attacks.L2DeepFoolAttack
    return cls(steps=steps, candidates=candidates, overshoot=overshoot, loss=loss)


def deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int = 50, candidates: int = 10,
             overshoot: float = 0.02, loss: str = "logits") -> torch.Tensor:
    """foolbox DeepFool (l2 or linf), clipped to the ball; `candidates` is capped at the number of classes."""
    attack = _deepfool_attack(ball.norm, steps, min(candidates, n_classes(model, x)), overshoot, loss)
    _, clipped, _ = _run(attack, model, x, y, ball.eps)
    return ball.project(clipped, x)
