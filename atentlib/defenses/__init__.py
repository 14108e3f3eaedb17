"""Defenses: one small module each, one registry that checks names where they enter."""
from __future__ import annotations

import torch

from ..threat import Ball
from .act import ACT
from .atent import ATENT
from .base import Defense, StepOutput
from .entropy_sgd import EntropySGD
from .mart import MART
from .mma import MMA
from .pgd_at import PGDAT
from .sgd import SGD
from .trades import TRADES

REGISTRY: dict[str, type[Defense]] = {
    "sgd": SGD, "pgd_at": PGDAT, "atent_linf": ATENT, "atent_l2": ATENT, "trades": TRADES, "mart": MART,
    "mma": MMA, "act": ACT, "entropy_sgd": EntropySGD,
}


def build(cfg, ball: Ball, *, model_name: str | None = None, num_classes: int = 10,
          optimizer: torch.optim.Optimizer | None = None, device: torch.device | str | None = None) -> Defense:
    """The defense for a validated defense config (its `kind` picks the class).

    ACT trains a second model of its own: it needs `model_name` (the experiment's model), `num_classes`,
    `optimizer` (the engine's optimiser of the main model, whose class, settings and learning rate the second
    model's optimiser follows) and `device`. The other defenses ignore these.
    """
    if cfg.kind not in REGISTRY:
        raise ValueError(f"unknown defense kind {cfg.kind!r}: allowed kinds are {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[cfg.kind]
    if cls is ACT:
        if model_name is None or optimizer is None:
            raise ValueError("defense 'act' needs model_name and optimizer: call "
                             "defenses.build(cfg, ball, model_name=..., num_classes=..., optimizer=..., device=...)")
        return ACT(cfg, ball, model_name=model_name, num_classes=num_classes, lead_optimizer=optimizer, device=device)
    return cls(cfg, ball)


__all__ = ["Defense", "StepOutput", "REGISTRY", "build"]
