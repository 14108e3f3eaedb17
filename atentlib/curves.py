"""Accuracy against the attack radius: one attack kind of the registry run at several radii (the masking checks'
monotonicity, the eps_curves notebook)."""
from __future__ import annotations

import torch
from torch import nn

from . import attacks
from .scoring import ATTACK_BATCH_SIZE, attack_accuracy
from .threat import Norm


def eps_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm, eps_list: list[float], steps: int,
              step_size: float | None = None, restarts: int = 1, kind: str = "pgd",
              batch_size: int = ATTACK_BATCH_SIZE,
              seed: int = 0) -> list[dict]:
    """Accuracy against eps: one row {"eps", "accuracy", "kind", "norm", "steps", "step_size", "restarts"} per eps.

    kind is a registered attack kind whose config takes the fields it is given here (pgd, cw_linf, fgsm; an attack
    without steps, such as fgsm, counts as 1 step); step_size None scales with eps: 2.5 eps / steps (Madry et al.).
    """
    plugin = attacks.ATTACKS.get(kind)
    rows = []
    for eps in eps_list:
        torch.manual_seed(seed)
        ss = step_size if step_size is not None else max(2.5 * eps / steps, 1e-12)
        settings = {"name": kind, "kind": kind, "eps": eps, "norm": norm, "steps": steps, "step_size": ss,
                    "restarts": restarts}
        cfg = plugin.config.model_validate({k: v for k, v in settings.items() if k in plugin.config.model_fields})
        att = plugin.build(cfg, model, attacks.AttackContext(seed=seed, batch_size=batch_size))
        acc = attack_accuracy(model, x, y, att, batch_size)
        rows.append({"eps": float(eps), "accuracy": acc, "kind": kind, "norm": norm,
                     "steps": getattr(cfg, "steps", 1), "step_size": ss, "restarts": restarts})
    return rows
