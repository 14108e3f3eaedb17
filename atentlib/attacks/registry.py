"""The attack registry: every attack kind an evaluation suite may name, with its config class and its builder.

An attack plugin is `AttackPlugin(kind, config, build)`: `config` is a pydantic class deriving from
`atentlib.config_base.AttackConfigBase` with `kind: Literal[<kind>]`, and `build(cfg, model, context)` returns the
attack as a function (x, y) -> x_adv with the model bound in. The built-in attacks register in
atentlib/attacks/__init__.py; code outside the package calls `register_attack(AttackPlugin(...))`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel
from torch import nn

from ..registry import Registry
from ..scoring import ATTACK_BATCH_SIZE, Attack


@dataclass(frozen=True)
class AttackContext:
    """What a builder may need beyond its config: the suite's seed and batch size (AutoAttack uses both)."""

    seed: int = 0
    batch_size: int = ATTACK_BATCH_SIZE


@dataclass(frozen=True)
class AttackPlugin:
    kind: str
    config: type[BaseModel]
    build: Callable[[BaseModel, nn.Module, AttackContext], Attack]


ATTACKS: Registry[AttackPlugin] = Registry("attack")


def register_attack(plugin: AttackPlugin) -> AttackPlugin:
    """Make an attack kind known to profiles (validation, messages) and to `build`."""
    return ATTACKS.register(plugin)


def build(cfg: BaseModel, model: nn.Module, context: AttackContext | None = None) -> Attack:
    """The attack a validated config describes, as a function of (x, y) with the model bound in."""
    return ATTACKS.get(cfg.kind).build(cfg, model, context or AttackContext())
