"""AutoAttack (Croce & Hein 2020) from the `pyautoattack` package, the authors' own code, and its Square attack.

Not torchattacks' AutoAttack (10 iterations by default) and not the old `autoattack` package torchattacks installs
(it fails to import with torch 2.14). The standard version runs APGD-CE, APGD-T (9 targets), FAB-T (9 targets) and
Square (5000 queries), 100 iterations each; with fewer than 10 classes the targets are capped at classes - 1 and
APGD-T (targeted DLR loss, needs >= 4 classes) is dropped below 4 classes. pyautoattack is imported on first use.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from ..config_base import AttackConfigBase
from ..scoring import ATTACK_BATCH_SIZE, predictions
from ..threat import Ball, model_mode
from .foolbox_adapter import n_classes
from .registry import AttackContext, AttackPlugin

if TYPE_CHECKING:
    from pyautoattack import AutoAttack

_AA_NORM = {"linf": "Linf", "l2": "L2"}


def _fit_targets(aa: AutoAttack, n_cls: int) -> None:
    """Cap the targeted attacks' target classes at n_cls - 1 (pyautoattack assumes >= 10 classes)."""
    if n_cls - 1 < aa.apgd_targeted.n_target_classes:
        aa.apgd_targeted.n_target_classes = n_cls - 1
    if n_cls - 1 < aa.fab.n_target_classes:
        aa.fab.n_target_classes = n_cls - 1
    if n_cls < 4:
        aa.attacks_to_run = [a for a in aa.attacks_to_run if a not in ("apgd-t", "apgd-dlr")]


def _configured(model: nn.Module, x: torch.Tensor, ball: Ball, version: str, seed: int,
                n_iter: int | None) -> AutoAttack:
    """An AutoAttack object set up as `autoattack` documents (targets capped at the model's classes)."""
    from pyautoattack import AutoAttack

    custom = version == "cheap"
    aa = AutoAttack(model, norm=_AA_NORM[ball.norm], eps=ball.eps, version="custom" if custom else version,
                    attacks=["apgd-ce", "apgd-t"] if custom else None, device=x.device, seed=seed)
    if custom:
        aa.apgd_targeted.n_target_classes = 9
    if n_iter is not None:
        aa.apgd.n_iter = aa.apgd_targeted.n_iter = n_iter
    _fit_targets(aa, n_classes(model, x))
    return aa


class AutoAttackRun:
    """AutoAttack as an attack function (x, y) -> x_adv that also counts, over every batch it is called on, the
    points still classified correctly after each of its attacks: where AutoAttack's margin over PGD comes from.

    AutoAttack is a cascade: each attack (standard: APGD-CE, APGD-T, FAB-T, Square) runs only on the points that
    every attack before it failed on. This runs that cascade one attack at a time through pyautoattack's own
    run_standard_evaluation (the attack's seeds are reset on each call, and the robust points are batched in the
    same order), so x_adv is what a single call gives (tests/test_attacks.py checks it), and the count after each
    attack comes for free. version "cheap" (for the masking checks, not for reported numbers) runs APGD-CE and
    APGD-T only; n_iter overrides the 100 iterations of the APGD attacks.
    """

    def __init__(self, model: nn.Module, ball: Ball, version: Literal["standard", "plus", "rand", "cheap"] = "standard",
                 batch_size: int = ATTACK_BATCH_SIZE, seed: int = 0, n_iter: int | None = None,
                 verbose: bool = False):
        self.model, self.ball, self.version = model, ball, version
        self.batch_size, self.seed, self.n_iter, self.verbose = batch_size, seed, n_iter, verbose
        self.n_points = 0
        self.correct: dict[str, int] = {}  # "clean", then each attack in AutoAttack's order: still correct after it

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.ball.eps == 0:
            return x.detach().clone()
        x, y = x.detach(), y.detach()
        aa = _configured(self.model, x, self.ball, self.version, self.seed, self.n_iter)
        aa.logger.setLevel(logging.DEBUG if self.verbose else logging.WARNING)
        order = list(aa.attacks_to_run)
        x_adv = x.clone()
        with model_mode(self.model, False):
            robust = predictions(self.model, x, self.batch_size) == y
            counts = {"clean": int(robust.sum())}
            for attack in order:
                idx = robust.nonzero().flatten()
                if len(idx):
                    aa.attacks_to_run = [attack]
                    adv, _ = aa.run_standard_evaluation(x[idx], y[idx], batch_size=self.batch_size)
                    adv = adv.to(x.device)
                    fooled = predictions(self.model, adv, self.batch_size) != y[idx]
                    x_adv[idx[fooled]] = adv[fooled]
                    robust[idx[fooled]] = False
                counts[attack] = int(robust.sum())
        self.n_points += len(y)
        for k, v in counts.items():
            self.correct[k] = self.correct.get(k, 0) + v
        return self.ball.project(x_adv, x)

    def accuracy_after_each(self) -> dict[str, float]:
        """Accuracy (%) over every point attacked so far: clean, then after each attack of the cascade."""
        return {k: 100.0 * v / max(1, self.n_points) for k, v in self.correct.items()}


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball,
               version: Literal["standard", "plus", "rand", "cheap"] = "standard",
               batch_size: int = ATTACK_BATCH_SIZE,
               seed: int = 0, n_iter: int | None = None, verbose: bool = False) -> torch.Tensor:
    """AutoAttack's x_adv [B, ...] (in the ball and [0, 1]); model in eval mode, modes restored (AutoAttackRun)."""
    return AutoAttackRun(model, ball, version, batch_size, seed, n_iter, verbose)(x, y)


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, n_queries: int = 5000,
           p_init: float = 0.8, seed: int = 0) -> torch.Tensor:
    """Square attack (Andriushchenko et al.): a black-box, score-based attack that never uses gradients."""
    from pyautoattack.square import SquareAttack

    if ball.eps == 0:
        return x.detach().clone()
    x, y = x.detach(), y.detach()
    attack = SquareAttack(model, norm=_AA_NORM[ball.norm], n_queries=n_queries, eps=ball.eps, p_init=p_init,
                          n_restarts=1, seed=seed, verbose=False, device=x.device, resc_schedule=False)
    with model_mode(model, False), torch.no_grad():
        x_adv = attack.perturb(x, y)
    return ball.project(x_adv.to(x.device), x)


class AutoAttackAttack(AttackConfigBase):
    """Croce & Hein's AutoAttack from the `pyautoattack` package (standard: APGD-CE, APGD-T, FAB-T, Square)."""

    kind: Literal["autoattack"]
    norm: Literal["linf", "l2"]
    version: Literal["standard", "plus", "rand"] = "standard"


def _build(a: AutoAttackAttack, model: nn.Module, context: AttackContext) -> AutoAttackRun:
    """AutoAttackRun: it also counts the accuracy after each attack of its cascade (evaluate_model records it)."""
    return AutoAttackRun(model, Ball(a.norm, a.eps), a.version, batch_size=context.batch_size, seed=context.seed)


PLUGINS = (AttackPlugin("autoattack", AutoAttackAttack, _build),)
