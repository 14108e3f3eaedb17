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


def percent(correct: torch.Tensor) -> float:
    """Accuracy (%) of a per-example correctness vector."""
    return 100.0 * correct.sum().item() / max(1, len(correct))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = FORWARD_BATCH_SIZE) -> float:
    """Top-1 accuracy (%) with the model in eval mode."""
    return percent(predictions(model, x, batch_size) == y)


def attack_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack,
                   batch_size: int = ATTACK_BATCH_SIZE, progress: bool = False, desc: str = "attack") -> torch.Tensor:
    """Per example, whether the model (eval mode) still classifies attack(x, y) correctly [B] (bool), batch by
    batch: what paired comparisons of two models on the same digits need."""
    out = []
    for i in tqdm(range(0, len(y), batch_size), desc=desc, disable=not progress, leave=False):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = attack(xb, yb)
        with torch.no_grad(), model_mode(model, False):
            out.append(model(x_adv).argmax(1) == yb)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.bool, device=x.device)


def attack_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack,
                    batch_size: int = ATTACK_BATCH_SIZE,
                    progress: bool = False, desc: str = "attack") -> float:
    """Accuracy (%) of the model (eval mode) on attack(x, y), batch by batch."""
    return percent(attack_correct(model, x, y, attack, batch_size, progress, desc))


def encode_correct(correct: torch.Tensor) -> str:
    """A correctness vector as a string of 0s and 1s (one character per example, in order), for JSON."""
    return "".join("1" if c else "0" for c in correct.tolist())


def decode_correct(bits: str) -> torch.Tensor:
    """The inverse of encode_correct."""
    return torch.tensor([b == "1" for b in bits], dtype=torch.bool)
