"""Defenses: one small module each, one registry that checks names where they enter."""
from __future__ import annotations

from ..threat import Ball
from .atent import ATENT
from .base import Defense, StepOutput
from .pgd_at import PGDAT
from .sgd import SGD

REGISTRY: dict[str, type[Defense]] = {"sgd": SGD, "pgd_at": PGDAT, "atent_linf": ATENT, "atent_l2": ATENT}


def build(cfg, ball: Ball) -> Defense:
    """The defense for a validated defense config (its `kind` picks the class)."""
    if cfg.kind not in REGISTRY:
        raise ValueError(f"unknown defense kind {cfg.kind!r}: allowed kinds are {', '.join(sorted(REGISTRY))}")
    return REGISTRY[cfg.kind](cfg, ball)


__all__ = ["Defense", "StepOutput", "REGISTRY", "build"]
