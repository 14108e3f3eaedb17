"""Accuracy of a model, clean or under an attack: the one counting loop that training's monitor, the evaluation
stage, the masking checks and the notebooks share."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .threat import model_mode

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Default batch sizes. On a 2-core CPU, PGD-20 costs 2.1x (SmallCNN) and 1.4x (LeNet5) less per digit in batches of
# 100 than of 500 (the activations of a batch stay in cache; bench/bench_eval_layout.py); forward passes alone are
# cheapest around 250. The evaluation configs of a profile set their own batch_size.
ATTACK_BATCH_SIZE = 100
FORWARD_BATCH_SIZE = 250


def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = FORWARD_BATCH_SIZE) -> torch.Tensor:
    """The model's top-1 class of each input [B], in eval mode, batch by batch."""
    with torch.no_grad(), model_mode(model, False):
        return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
                         or [torch.empty(0, dtype=torch.long, device=x.device)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = FORWARD_BATCH_SIZE) -> float:
    """Top-1 accuracy (%) with the model in eval mode."""
    correct = (predictions(model, x, batch_size) == y).sum().item()
    return 100.0 * correct / max(1, len(y))


def attack_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack,
                    batch_size: int = ATTACK_BATCH_SIZE,
                    progress: bool = False, desc: str = "attack") -> float:
    """Accuracy (%) of the model (eval mode) on attack(x, y), batch by batch."""
    correct = 0
    for i in tqdm(range(0, len(y), batch_size), desc=desc, disable=not progress, leave=False):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = attack(xb, yb)
        with torch.no_grad(), model_mode(model, False):
            correct += (model(x_adv).argmax(1) == yb).sum().item()
    return 100.0 * correct / max(1, len(y))
