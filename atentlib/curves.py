"""Accuracy against the attack radius: PGD, CW-linf or FGSM run at several radii (the masking checks'
monotonicity, the eps_curves notebook)."""
from __future__ import annotations

import torch
from torch import nn

from . import attacks
from .scoring import ATTACK_BATCH_SIZE, attack_accuracy
from .threat import Ball, Norm


def eps_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm, eps_list: list[float], steps: int,
              step_size: float | None = None, restarts: int = 1, kind: str = "pgd",
              batch_size: int = ATTACK_BATCH_SIZE,
              seed: int = 0) -> list[dict]:
    """Accuracy against eps: one row {"eps", "accuracy", "kind", "steps", "step_size", "restarts"} per eps.

    kind is pgd, cw_linf or fgsm (steps ignored); step_size None scales with eps: 2.5 eps / steps (Madry et al.).
    """
    rows = []
    for eps in eps_list:
        torch.manual_seed(seed)
        ss = step_size if step_size is not None else max(2.5 * eps / steps, 1e-12)
        ball = Ball(norm, eps)
        if kind == "pgd":
            att = lambda xb, yb: attacks.pgd(model, xb, yb, ball, steps, ss, restarts)  # noqa: E731
        elif kind == "cw_linf":
            att = lambda xb, yb: attacks.pgd(model, xb, yb, ball, steps, ss, restarts,  # noqa: E731
                                             loss_fn=attacks.cw_margin_loss)
        elif kind == "fgsm":
            att = lambda xb, yb: attacks.fgsm(model, xb, yb, ball)  # noqa: E731
        else:
            raise ValueError(f"eps_curve: kind must be pgd, cw_linf or fgsm, got {kind!r}")
        acc = attack_accuracy(model, x, y, att, batch_size)
        rows.append({"eps": float(eps), "accuracy": acc, "kind": kind, "norm": norm,
                     "steps": 1 if kind == "fgsm" else steps, "step_size": ss, "restarts": restarts})
    return rows
