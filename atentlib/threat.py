"""Threat models: the linf and l2 balls around an input, intersected with the pixel box [0, 1].

One small class with the three operations every attack and sampler needs: a random start, an ascent step from a
gradient, and the projection back onto the ball. The radius is one float for the whole batch, or one per example
(a tensor [B], MMA's per-example balls); step sizes likewise.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Literal, Union

import torch
from torch import nn

Norm = Literal["linf", "l2"]
NORMS = ("linf", "l2")


def per_sample_norm(v: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Norm of each sample of a batch, shaped [B, 1, 1, ...] for broadcasting."""
    flat = v.flatten(1)
    n = flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)
    return n.view(-1, *([1] * (v.dim() - 1)))


Radius = Union[float, torch.Tensor]  # one radius (or step size), or one per example [B]


def per_example(v: Radius, like: torch.Tensor) -> Radius:
    """A float as it is; a per-example tensor [B] shaped [B, 1, 1, ...] to broadcast against `like`."""
    return v.view(-1, *([1] * (like.dim() - 1))) if torch.is_tensor(v) else v


@dataclass(frozen=True)
class Ball:
    """{x' : ||x' - x||_norm <= eps} intersected with [0, 1]^d; eps a float, or a tensor [B] (one per example)."""

    norm: Norm
    eps: Radius

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not (bool((self.eps >= 0).all()) if torch.is_tensor(self.eps) else self.eps >= 0):
            raise ValueError(f"eps must be >= 0, got {self.eps}")

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        eps = per_example(self.eps, x)
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:
            n = per_sample_norm(delta, "l2")
            # the same expression for both radii: with a float torch multiplies by the reciprocal, with a tensor it
            # divides, and each caller keeps the arithmetic it always had
            delta = delta * torch.clamp(eps / (n + 1e-12), max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def random_start(self, x: torch.Tensor) -> torch.Tensor:
        """A uniform point of the linf ball, or a random direction at a uniform radius of the l2 ball."""
        if torch.is_tensor(self.eps):
            eps = per_example(self.eps, x)
            if self.norm == "linf":
                delta = (2 * torch.rand_like(x) - 1) * eps
            else:
                direction = torch.randn_like(x)
                delta = direction / (per_sample_norm(direction, "l2") + 1e-12) * per_example(
                    torch.rand(len(x), device=x.device, dtype=x.dtype), x) * eps
            return (x + delta).clamp(0.0, 1.0)
        if self.norm == "linf":
            delta = torch.empty_like(x).uniform_(-self.eps, self.eps)
        else:
            direction = torch.randn_like(x)
            direction = direction / (per_sample_norm(direction, "l2") + 1e-12)
            radius = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
            delta = direction * radius * self.eps
        return (x + delta).clamp(0.0, 1.0)

    def step(self, x_adv: torch.Tensor, grad: torch.Tensor, step_size: Radius) -> torch.Tensor:
        """Steepest ascent for this norm: sign(g) for linf, g/||g||_2 for l2.

        A per-example step (tensor [B]) multiplies the unit direction, s * (g / ||g||); one step for the batch
        multiplies first, s * g / ||g||. The two orders differ in the last bits: each is the one its callers
        (MMA's AN-PGD; every other PGD) always computed.
        """
        s = per_example(step_size, x_adv)
        if self.norm == "linf":
            return x_adv + s * grad.sign()
        if torch.is_tensor(s):
            return x_adv + s * (grad / (per_sample_norm(grad, "l2") + 1e-12))
        return x_adv + s * grad / (per_sample_norm(grad, "l2") + 1e-12)


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
