"""The defense registry: every defense kind a profile may name, with its class, config class and how it is shown.

A defense plugin is `DefensePlugin(kind, defense, config, display_name, distributed_unsupported)`: `defense` is a
Defense subclass built as `defense(cfg, ball, context)`, `config` a pydantic class deriving from
`atentlib.config_base.DefenseConfigBase` with `kind: Literal[<kind>]`, `display_name` the name tables and figures
show, and `distributed_unsupported` why it cannot train on several processes (None: it can). The built-in defenses
register in atentlib/defenses/__init__.py; code outside the package calls `register_defense(DefensePlugin(...))`.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ..registry import Registry
from ..threat import Ball
from .base import Defense, DefenseContext


@dataclass(frozen=True)
class DefensePlugin:
    kind: str
    defense: type[Defense]
    config: type[BaseModel]
    display_name: str
    distributed_unsupported: str | None = None


DEFENSES: Registry[DefensePlugin] = Registry("defense")


def register_defense(plugin: DefensePlugin) -> DefensePlugin:
    """Make a defense kind known to profiles (validation, messages, `train --help`), the engine and the reports."""
    return DEFENSES.register(plugin)


def build(cfg: BaseModel, ball: Ball, context: DefenseContext | None = None) -> Defense:
    """The defense for a validated defense config (its `kind` picks the class)."""
    return DEFENSES.get(cfg.kind).defense(cfg, ball, context or DefenseContext())


def display_names() -> dict[str, str]:
    """{kind: the name a reader knows (PGD-AT, TRADES, ...)}, in registration order."""
    return {p.kind: p.display_name for p in DEFENSES.plugins()}


def describe_defenses() -> str:
    """Every defense `kind` with its parameters, defaults and descriptions (for `python -m atentlib train --help`)."""
    lines = []
    for plugin in DEFENSES.plugins():
        cls = plugin.config
        summary = next(iter((cls.__doc__ or "").strip().splitlines()), "")
        lines.append(f"  {plugin.kind}: {summary}")
        for name, f in cls.model_fields.items():
            if name in ("kind", "train"):
                continue
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            lines.append(f"      {name} = {default}" + (f"  ({f.description})" if f.description else ""))
    lines.append("  every defense also takes `train:`, overrides of the experiment's train section")
    return "\n".join(lines)
