"""Minimal adversarial perturbation per example (ACT's "average minimum linf perturbation to fool").

Two foolbox routes, FMN (fast minimum-norm, Pintor et al. 2021) and DeepFool, each followed by a binary search on
the segment from x to the adversarial found; by default the smaller of the two per example. An example misclassified
already has norm 0; one for which no adversarial was found has norm inf.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ..threat import Norm, model_mode, per_sample_norm
from .foolbox_adapter import _deepfool_attack, _run, n_classes


@torch.no_grad()
def _wrong(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with model_mode(model, False):
        return model(x).argmax(1) != y


def _shrink(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, steps: int) -> torch.Tensor:
    """Binary search for the smallest t in [0, 1] with x + t (x_adv - x) misclassified (where x_adv is)."""
    shape = (-1, *([1] * (x.dim() - 1)))
    lo = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    hi = torch.ones_like(lo)
    for _ in range(steps):
        mid = (lo + hi) / 2
        wrong = _wrong(model, x + mid.view(shape) * (x_adv - x), y)
        hi = torch.where(wrong, mid, hi)
        lo = torch.where(wrong, lo, mid)
    return x + hi.view(shape) * (x_adv - x)


def _found_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, norm: Norm,
                 binary_search_steps: int) -> torch.Tensor:
    """Norms of x_adv - x after shrinking along the segment; inf where x_adv does not fool the model."""
    found = _wrong(model, x_adv, y)
    x_adv = torch.where(found.view(-1, *([1] * (x.dim() - 1))), x_adv, x)
    norms = per_sample_norm(_shrink(model, x, y, x_adv, binary_search_steps) - x, norm).flatten()
    return torch.where(found, norms, torch.full_like(norms, math.inf))


def minimal_perturbation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm,
                         method: Literal["fmn", "deepfool", "best"] = "best", steps: int = 100,
                         binary_search_steps: int = 20) -> torch.Tensor:
    """Per-example norm [B] of the smallest adversarial perturbation found (0: already wrong; inf: none found).

    fmn: foolbox FMN; deepfool: foolbox DeepFool (all classes as candidates); best: the smaller of the two per
    example (FMN occasionally returns no adversarial). foolbox is imported on first use. Each result is shrunk by a binary search on the segment
    from x. The norms are upper bounds on the true minimal perturbation (an attack finds a point, not the optimum).
    """
    import foolbox as fb

    if method not in ("fmn", "deepfool", "best"):
        raise ValueError(f"method must be 'fmn', 'deepfool' or 'best', got {method!r}")
    x, y = x.detach(), y.detach()
    norms = torch.full((len(x),), math.inf, device=x.device, dtype=x.dtype)
    if method in ("fmn", "best"):
        attack = (fb.attacks.LInfFMNAttack if norm == "linf" else fb.attacks.L2FMNAttack)(steps=steps)
        x_adv, _, _ = _run(attack, model, x, y, None)
        norms = torch.minimum(norms, _found_norms(model, x, y, x_adv, norm, binary_search_steps))
    if method in ("deepfool", "best"):
        attack = _deepfool_attack(norm, steps, n_classes(model, x), 0.02, "logits")
        x_adv, _, _ = _run(attack, model, x, y, None)
        norms = torch.minimum(norms, _found_norms(model, x, y, x_adv, norm, binary_search_steps))
    return torch.where(_wrong(model, x, y), torch.zeros_like(norms), norms)


def summarize(norms: torch.Tensor) -> dict:
    """Mean and median of the finite norms of examples not already misclassified, and the counts."""
    pos = norms[norms > 0]
    finite = pos[torch.isfinite(pos)]
    return {"n": int(len(norms)), "n_already_wrong": int((norms == 0).sum()),
            "n_found": int(len(finite)), "n_not_found": int(torch.isinf(pos).sum()),
            "mean": float(finite.mean()) if len(finite) else math.nan,
            "median": float(finite.median()) if len(finite) else math.nan}
