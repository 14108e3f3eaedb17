"""Attacks: each takes (model, x, y, ...) with x in [0, 1] and returns x_adv inside its ball and [0, 1].

The model runs in eval mode and every submodule's mode is restored afterwards.

pgd            PGD on cross-entropy, linf/l2, random start, worst case over restarts (ours)
fgsm           one step of length eps (linf or l2)
cw_linf        PGD on the CW margin loss (TRADES/MART's CW-linf)
foolbox_pgd    foolbox LinfPGD / L2PGD
cw_l2          foolbox L2CarliniWagnerAttack, clipped to the ball
deepfool       foolbox DeepFool l2 / linf, clipped to the ball
autoattack     pyautoattack's AutoAttack (standard); AutoAttackRun: the same as an attack function that also counts
               the accuracy after each attack of the cascade; square: its black-box Square attack
atent_attack   linf-ATENT's Langevin sampler as an attack (Table S3)
transfer       PGD crafted on a surrogate model (black-box transfer)
minimal_perturbation   per-example norm of the smallest adversarial found (foolbox FMN or DeepFool)
"""
from __future__ import annotations

import importlib
from typing import Any

from .atent_attack import atent_attack
from .cw import cw_linf, cw_margin_loss
from .fgsm import fgsm
from .pgd import ce_loss, pgd
from .transfer import transfer, transfer_accuracy

# the foolbox and pyautoattack adapters load on first use, so that training (which imports pgd) skips them
_LAZY = {"autoattack": "autoattack_adapter", "AutoAttackRun": "autoattack_adapter",
         "square": "autoattack_adapter", "cw_l2": "foolbox_adapter",
         "deepfool": "foolbox_adapter", "foolbox_pgd": "foolbox_adapter", "minimal_perturbation": "minimal",
         "summarize": "minimal"}

__all__ = sorted(["atent_attack", "ce_loss", "cw_linf", "cw_margin_loss", "fgsm", "pgd", "transfer",
                  "transfer_accuracy", *_LAZY])


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
