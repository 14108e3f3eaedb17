"""Defenses: one small module each (its Defense class, its config class, its plugin record), one registry.

Every kind a profile may name is a plugin of the registry (atentlib.defenses.registry): profile validation and its
messages, `python -m atentlib train --help`, the engine's builder, the refusal of torchrun for defenses whose
state is per rank, and the names tables and figures show all read it. The built-in defenses are registered here,
in the order messages and help list them; code outside the package adds one with `register_defense`.
"""
from __future__ import annotations

from ..config_base import DefenseConfigBase
from ..samplers import AtentL2Defense, AtentLinfDefense
from . import act, atent, entropy_sgd, mart, mma, pgd_at, sgd, trades
from .act import ACT, ActDefense
from .atent import ATENT
from .base import Defense, DefenseContext, PgdCraftedConfig, StepOutput
from .entropy_sgd import EntropySGD, EntropySgdDefense
from .mart import MART, MartDefense
from .mma import MMA, MmaDefense
from .pgd_at import PGDAT, PgdAtDefense
from .registry import DEFENSES, DefensePlugin, build, describe_defenses, display_names, register_defense
from .sgd import SGD, SgdDefense
from .trades import TRADES, TradesDefense

for _module in (sgd, pgd_at, atent, trades, mart, mma, act, entropy_sgd):  # the order of messages and help
    for _plugin in _module.PLUGINS:
        register_defense(_plugin)
del _module, _plugin

__all__ = ["DEFENSES", "Defense", "DefenseConfigBase", "DefenseContext", "DefensePlugin", "PgdCraftedConfig",
           "StepOutput", "build", "describe_defenses", "display_names", "register_defense",
           "ACT", "ATENT", "EntropySGD", "MART", "MMA", "PGDAT", "SGD", "TRADES",
           "ActDefense", "AtentL2Defense", "AtentLinfDefense", "EntropySgdDefense", "MartDefense", "MmaDefense",
           "PgdAtDefense", "SgdDefense", "TradesDefense"]
