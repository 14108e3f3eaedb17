"""AutoAttack (Croce & Hein 2020) from the `pyautoattack` package, the authors' own code, and its Square attack.

Not torchattacks' AutoAttack (10 iterations by default) and not the old `autoattack` package torchattacks installs
(it fails to import with torch 2.14). The standard version runs APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and
Square (5000 queries), 100 iterations each; with fewer than 10 classes the targets are capped at classes - 1 and
APGD-T (targeted DLR loss, needs >= 4 classes) is dropped below 4 classes.
"""
from __future__ import annotations

import logging
from typing import Literal

import torch
from pyautoattack import AutoAttack
from pyautoattack.square import SquareAttack
from torch import nn

from ..scoring import ATTACK_BATCH_SIZE
from ..threat import Ball, model_mode
from .foolbox_adapter import n_classes

_AA_NORM = {"linf": "Linf", "l2": "L2"}


def _fit_targets(aa: AutoAttack, n_cls: int) -> None:
    """Cap the targeted attacks' target classes at n_cls - 1 (pyautoattack assumes >= 10 classes)."""
    if n_cls - 1 < aa.apgd_targeted.n_target_classes:
        aa.apgd_targeted.n_target_classes = n_cls - 1
    if n_cls - 1 < aa.fab.n_target_classes:
        aa.fab.n_target_classes = n_cls - 1
    if n_cls < 4:
        aa.attacks_to_run = [a for a in aa.attacks_to_run if a not in ("apgd-t", "apgd-dlr")]


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball,
               version: Literal["standard", "plus", "rand", "cheap"] = "standard",
               batch_size: int = ATTACK_BATCH_SIZE,
               seed: int = 0, n_iter: int | None = None, verbose: bool = False) -> torch.Tensor:
    """AutoAttack's x_adv [B, ...] (in the ball and [0, 1]); model in eval mode, modes restored.

    version "cheap" (for the masking checks, not for reported numbers) runs APGD-CE and APGD-T only;
    n_iter overrides the 100 iterations of the APGD attacks.
    """
    if ball.eps == 0:
        return x.detach().clone()
    x, y = x.detach(), y.detach()
    n_cls = n_classes(model, x)
    custom = version == "cheap"
    aa = AutoAttack(model, norm=_AA_NORM[ball.norm], eps=ball.eps, version="custom" if custom else version,
                    attacks=["apgd-ce", "apgd-t"] if custom else None, device=x.device, seed=seed)
    if custom:
        aa.apgd_targeted.n_target_classes = 9
    if n_iter is not None:
        aa.apgd.n_iter = aa.apgd_targeted.n_iter = n_iter
    _fit_targets(aa, n_cls)
    aa.logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    with model_mode(model, False):
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=batch_size)
    return ball.project(x_adv.to(x.device), x)


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, n_queries: int = 5000,
           p_init: float = 0.8, seed: int = 0) -> torch.Tensor:
    """Square attack (Andriushchenko et al.): a black-box, score-based attack that never uses gradients."""
    if ball.eps == 0:
        return x.detach().clone()
    x, y = x.detach(), y.detach()
    attack = SquareAttack(model, norm=_AA_NORM[ball.norm], n_queries=n_queries, eps=ball.eps, p_init=p_init,
                          n_restarts=1, seed=seed, verbose=False, device=x.device, resc_schedule=False)
    with model_mode(model, False), torch.no_grad():
        x_adv = attack.perturb(x, y)
    return ball.project(x_adv.to(x.device), x)
