"""Black-box transfer: adversarial examples crafted with PGD on a surrogate model, scored on the target.

If a defense masks gradients, examples from an undefended surrogate often fool it better than white-box attacks
on it do: transfer accuracy below white-box accuracy is a masking sign (atentlib.masking).
"""
from __future__ import annotations

import torch
from torch import nn

from ..scoring import ATTACK_BATCH_SIZE, percent, predictions
from ..threat import Ball
from .pgd import LossFn, ce_loss, pgd


def transfer(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, surrogate: nn.Module, ball: Ball, steps: int,
             step_size: float, restarts: int = 1, random_start: bool = True,
             loss_fn: LossFn = ce_loss) -> torch.Tensor:
    """PGD crafted on `surrogate` (eval mode); the target `model` is never queried (kept for the common interface)."""
    del model
    return pgd(surrogate, x, y, ball, steps=steps, step_size=step_size, restarts=restarts,
               random_start=random_start, loss_fn=loss_fn)


def transfer_accuracy(surrogate: nn.Module, target: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball,
                      steps: int, step_size: float, restarts: int = 1,
                      batch_size: int = ATTACK_BATCH_SIZE) -> dict:
    """Accuracy (%) of the target and of the surrogate on the surrogate's PGD examples."""
    tgt, sur = [], []
    for i in range(0, len(y), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = transfer(target, xb, yb, surrogate=surrogate, ball=ball, steps=steps, step_size=step_size,
                         restarts=restarts)
        tgt.append(predictions(target, x_adv, batch_size) == yb)
        sur.append(predictions(surrogate, x_adv, batch_size) == yb)
    return {"target": percent(torch.cat(tgt)) if tgt else 0.0, "surrogate": percent(torch.cat(sur)) if sur else 0.0}
