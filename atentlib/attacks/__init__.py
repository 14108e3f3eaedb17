"""Attacks: each takes (model, x, y, ...) with x in [0, 1] and returns x_adv inside its ball and [0, 1].

The model runs in eval mode and every submodule's mode is restored afterwards.

pgd            PGD on cross-entropy, linf/l2, random start, worst case over restarts (ours; the package's one PGD loop)
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

The kinds an evaluation suite may name are those of the registry (atentlib.attacks.registry): each module below
declares its config classes and builders in PLUGINS, registered here in the order messages list them. foolbox and
pyautoattack load on first use, so that training (which imports pgd) skips them.
"""
from __future__ import annotations

from . import atent_attack as _atent_attack
from . import autoattack_adapter as _autoattack_adapter
from . import cw as _cw
from . import fgsm as _fgsm
from . import foolbox_adapter as _foolbox_adapter
from . import pgd as _pgd
from .atent_attack import AtentAttack, atent_attack
from .autoattack_adapter import AutoAttackAttack, AutoAttackRun, autoattack, square
from .cw import CwLinfAttack, cw_linf, cw_margin_loss
from .fgsm import FgsmAttack, fgsm
from .foolbox_adapter import CwL2Attack, DeepFoolAttack, FoolboxPgdAttack, cw_l2, deepfool, foolbox_pgd
from .minimal import minimal_perturbation, summarize
from .pgd import IterativeAttackConfig, PgdAttack, ce_loss, pgd
from .registry import ATTACKS, AttackContext, AttackPlugin, build, register_attack
from .transfer import transfer, transfer_accuracy

for _module in (_pgd, _fgsm, _cw, _foolbox_adapter, _autoattack_adapter, _atent_attack):  # the order of messages
    for _plugin in _module.PLUGINS:
        register_attack(_plugin)
del _module, _plugin

__all__ = ["ATTACKS", "AttackContext", "AttackPlugin", "build", "register_attack",
           "AtentAttack", "AutoAttackAttack", "CwL2Attack", "CwLinfAttack", "DeepFoolAttack", "FgsmAttack",
           "FoolboxPgdAttack", "IterativeAttackConfig", "PgdAttack",
           "AutoAttackRun", "atent_attack", "autoattack", "ce_loss", "cw_l2", "cw_linf", "cw_margin_loss", "deepfool",
           "fgsm", "foolbox_pgd", "minimal_perturbation", "pgd", "square", "summarize", "transfer",
           "transfer_accuracy"]
