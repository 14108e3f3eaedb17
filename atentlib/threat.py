"""Threat models: the linf and l2 balls around an input, intersected with the pixel box [0, 1].

One small class per norm with the three operations every attack and sampler needs: a random start,
an ascent step from a gradient, and the projection back onto the ball.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
from torch import nn

Norm = Literal["linf", "l2"]
NORMS = ("linf", "l2")


def per_sample_norm(v: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Norm of each sample of a batch, shaped [B, 1, 1, ...] for broadcasting."""
    flat = v.flatten(1)
    n = flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
    return n.view(-1, *([1] * (v.dim() - 1)))


@dataclass(frozen=True)
class Ball:
    """{x' : ||x' - x||_norm <= eps} intersected with [0, 1]^d."""

    norm: Norm
    eps: float

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            n = per_sample_norm(delta, "l2")
            delta = delta * torch.clamp(self.eps / (n + 1e-12), max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        """A uniform point of the linf ball, or a random direction at a uniform radius of the l2 ball."""
        if self.norm == "linf":
            delta = torch.empty_like(x).uniform_(-self.eps, self.eps)
        else:
            direction = torch.randn_like(x)
            direction = direction / (per_sample_norm(direction, "l2") + 1e-12)
            radius = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
            delta = direction * radius * self.eps
        return (x + delta).clamp(0.0, 1.0)

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        """Steepest ascent for this norm: sign(g) for linf, g/||g||_2 for l2."""
        if self.norm == "linf":
            return x_adv + step_size * grad.sign()
        return x_adv + step_size * grad / (per_sample_norm(grad, "l2") + 1e-12)


@contextlib.contextmanager
def model_mode(model: nn.Module, train: bool) -> Iterator[nn.Module]:
    """Put every submodule in train or eval mode, and restore each one's own mode afterwards."""
    modes = {m: m.training for m in model.modules()}
    model.train(train)
    try:
        yield model
    finally:
        for m, was_training in modes.items():
            m.training = was_training
