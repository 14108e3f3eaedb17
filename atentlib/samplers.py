"""ATENT's Langevin samplers (Algorithms 1 and 2 of Jagatap et al.).

Each batch's inputs are moved by K steps of stochastic gradient Langevin dynamics towards points near the data
with high loss, i.e. towards samples of p(x'|x) ∝ exp(L(x'; y, w) - gamma/2 ||x' - x||^2). The training loss is
the exponentially weighted sum of the K sample losses,  mu <- (1 - alpha) mu + alpha mu_k,  so
mu = sum_k c_k mu_k with c_k = alpha (1 - alpha)^(K - k).

Cost: the forward/backward at x^k serves both the x-gradient of the next step and the weight-gradient of
mu_k, so one step costs K + 1 forward-backward passes, like PGD-AT. Weight-gradients are accumulated into
`.grad` as the chain runs. By default (`mu_grad_cutoff = 0`) every iterate adds its weight-gradient: the exact
gradient of mu. With a cutoff, iterates whose weight c_k is below `mu_grad_cutoff * alpha` skip it (with
alpha = 0.9 and cutoff 0.02 they hold < 1% of mu's weight), which makes the passes before the last two as cheap
as PGD's (x-gradient only).

The samplers' settings are the atent_linf and atent_l2 defense configs below (the ATENT defense registers them,
atentlib.defenses.atent; the ATENT attack builds an AtentLinfDefense of its own).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from .config_base import DefenseConfigBase
from .threat import Ball, model_mode, per_sample_norm


class AtentLinfDefense(DefenseConfigBase):
    """linf-ATENT (Algorithm 2). Defaults follow the authors' public code; `paper` notes the literal reading."""

    kind: Literal["atent_linf"]
    K: int = Field(10, ge=0, description="Langevin steps per batch (K = 0 trains on the starting point)")
    gamma: float = Field(3.33, gt=0, description="coupling; the ball radius is 1/gamma unless `radius` is set")
    radius: float | None = Field(None, gt=0, description="override of 1/gamma (CIFAR's stated gamma is likely a typo)")
    step_size: float = Field(0.01, gt=0, description="eta' of the Langevin step")
    noise: float = Field(1e-3, ge=0, description="epsilon: noise scale; the noise is noise*sqrt(2 eta')*N(0, I)")
    alpha: float = Field(0.9, gt=0, le=1, description="mu <- (1-alpha) mu + alpha mu_k")
    start: Literal["corner", "normal", "uniform"] = Field(
        "corner", description="corner: x + r*sign(N) (authors' code); normal: x + start_scale*N(0, I); uniform: "
        "x + U(-start_scale, start_scale)")
    start_scale: float | None = Field(
        None, ge=0, description="scale of the normal and uniform starts (None: the radius 1/gamma, the distance "
        "from x at which the paper's sampling distribution lives)")
    step_direction: Literal["sign", "raw"] = Field("sign", description="sign: signed gradient (authors' code); "
                                                   "raw: the gradient as written in Algorithm 2")
    projection: Literal["final", "every_step", "clip_last_step"] = Field(
        "final", description="final: project x^K - x onto the ball at the last step only (authors' code); "
        "every_step: project after every step; clip_last_step: paper's P_gamma clips the K-th increment")
    model_mode: Literal["train", "eval"] = Field("train", description="model mode while sampling")
    mu_grad_cutoff: float = Field(
        0.0, ge=0, lt=1, description="iterates whose weight in mu is below cutoff*alpha add no weight-gradient "
        "(0, the default = the exact gradient of mu, as the papers train; 0.02 keeps the last two iterates, >99% "
        "of mu's weight, and makes a step cost what a PGD-AT step costs)")


class AtentL2Defense(DefenseConfigBase):
    """l2-ATENT (Algorithm 1). Defaults follow the authors' l2 code: x' <- P(x' + eta' g/||g|| + gamma (x - x')
    + noise), P the projection onto the threat ball at every step, from a random point of the ball. Algorithm 1
    read literally is pullback: scaled, projection: none, start: normal (its chain can leave the ball)."""

    kind: Literal["atent_l2"]
    K: int = Field(40, ge=0)
    gamma: float = Field(0.05, gt=0, description="strength of the pull-back gamma*(x - x')")
    step_size: float = Field(0.25, gt=0, description="eta' of the Langevin step")
    noise: float = Field(1e-3, ge=0)
    alpha: float = Field(0.9, gt=0, le=1)
    start: Literal["ball", "normal"] = Field(
        "ball", description="ball: a random point of the l2 ball of `radius` (authors' code); normal: "
        "x + start_scale*N(0, I), the small normal delta of Algorithm 1")
    start_scale: float = Field(1e-3, ge=0, description="std of the normal start delta (start: normal only)")
    step_direction: Literal["normalized", "raw"] = Field(
        "normalized", description="normalized: gradient / its l2 norm per sample (as l2-PGD and the authors' "
        "code); raw: as written")
    pullback: Literal["unscaled", "scaled"] = Field(
        "unscaled", description="unscaled: x' + eta' g + gamma (x - x') (authors' code); scaled: "
        "x' + eta' (g + gamma (x - x')), Algorithm 1 as written")
    projection: Literal["every_step", "none"] = Field(
        "every_step", description="every_step: project onto the l2 ball of `radius` after each step (authors' "
        "code); none: as Algorithm 1 is written (only the pull-back keeps the chain near x)")
    radius: float | None = Field(None, gt=0, description="radius of the projection and of the ball start (None: "
                                 "the experiment's threat eps)")
    model_mode: Literal["train", "eval"] = "train"
    mu_grad_cutoff: float = Field(0.0, ge=0, lt=1, description="as for atent_linf (0: the exact gradient of mu)")


@dataclass(frozen=True)
class SampleResult:
    x_adv: torch.Tensor  # the last iterate x^K, detached, in [0, 1]
    mu: torch.Tensor  # scalar: the data-entropy loss estimate (weighted sum of the K sample losses)


def mu_weights(K: int, alpha: float) -> list[float]:
    """c_0..c_K: weight of the loss at iterate k in mu (c_0 = 0 unless K = 0, where mu is the start's loss)."""
    if K == 0:
        return [1.0]
    return [0.0] + [alpha * (1.0 - alpha) ** (K - k) for k in range(1, K + 1)]


class LangevinSampler:
    """Shared SGLD loop; subclasses define the start and one step. `eps` is the experiment's threat radius (the
    l2 sampler's ball when its config sets no radius of its own)."""

    def __init__(self, cfg: AtentLinfDefense | AtentL2Defense, eps: float | None = None):
        self.cfg = cfg
        self.eps = eps
        self.radius_scale = 1.0  # < 1 during an epsilon warm-up

    # -- to be defined by each norm
    def start(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, x_k: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, is_last: bool) -> torch.Tensor:
        raise NotImplementedError

    # -- public face
    def sample(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x' = x^K for a batch (no weight-gradients; ATENT used as an attack)."""
        return self._run(model, x, y, accumulate=False).x_adv

    def accumulate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> SampleResult:
        """Run the chain and add grad_w mu into each parameter's .grad (the caller zeroes and steps)."""
        return self._run(model, x, y, accumulate=True)

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, accumulate: bool) -> SampleResult:
        cfg, K = self.cfg, self.cfg.K
        weights = mu_weights(K, cfg.alpha)
        threshold = cfg.mu_grad_cutoff * max(weights)
        params = [p for p in model.parameters() if p.requires_grad] if accumulate else []
        x = x.detach()
        x_k = self.start(x).clamp(0.0, 1.0)
        mu = torch.zeros((), device=x.device)
        with model_mode(model, cfg.model_mode == "train"), torch.enable_grad():
            for k in range(K + 1):
                need_x = k < K
                need_w = accumulate and weights[k] > 0 and weights[k] >= threshold
                if need_x or need_w:
                    x_k.requires_grad_(need_x)
                    loss = F.cross_entropy(model(x_k), y)
                    grads = torch.autograd.grad(loss, ([x_k] if need_x else []) + (params if need_w else []))
                    if need_w:
                        for p, g in zip(params, grads[int(need_x):]):
                            g = g * weights[k]
                            p.grad = g if p.grad is None else p.grad.add_(g)
                elif accumulate and weights[k] > 0:
                    with torch.no_grad():
                        loss = F.cross_entropy(model(x_k), y)
                else:
                    loss = None
                if loss is not None and weights[k] > 0:
                    mu = (1.0 - cfg.alpha) * mu + cfg.alpha * loss.detach() if K > 0 else loss.detach()
                if need_x:
                    x_k = self.step(x_k.detach(), x, grads[0], is_last=(k + 1 == K)).clamp(0.0, 1.0)
        return SampleResult(x_k.detach(), mu)  # mu stays a tensor: no host sync per step

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return self.cfg.noise * math.sqrt(2.0 * self.cfg.step_size) * torch.randn_like(like)


class AtentLinf(LangevinSampler):
    """linf-ATENT (Algorithm 2): no pull-back term; the increment or the perturbation is kept in the ball
    of radius 1/gamma (or `radius`), as `projection` says."""

    cfg: AtentLinfDefense

    @property
    def radius(self) -> float:
        base = self.cfg.radius if self.cfg.radius is not None else 1.0 / self.cfg.gamma
        return base * self.radius_scale

    def start(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.start == "corner":
            return x + self.radius * torch.randn_like(x).sign()
        scale = self.radius if self.cfg.start_scale is None else self.cfg.start_scale
        if self.cfg.start == "uniform":
            return x + torch.empty_like(x).uniform_(-scale, scale)
        return x + scale * torch.randn_like(x)

    def step(self, x_k: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, is_last: bool) -> torch.Tensor:
        direction = grad.sign() if self.cfg.step_direction == "sign" else grad
        increment = self.cfg.step_size * direction + self._noise(x_k)
        proj = self.cfg.projection
        if proj == "clip_last_step" and is_last:
            increment = increment.clamp(-self.radius, self.radius)
        x_next = x_k + increment
        if proj == "every_step" or (proj == "final" and is_last):
            x_next = Ball("linf", self.radius).project(x_next, x)
        return x_next


class AtentL2(LangevinSampler):
    """l2-ATENT (Algorithm 1): a step along grad L (normalised per sample by default), the pull-back
    gamma (x - x') (scaled by eta' or not), Langevin noise, and the projection onto the l2 ball (or none)."""

    cfg: AtentL2Defense

    @property
    def radius(self) -> float:
        base = self.cfg.radius if self.cfg.radius is not None else self.eps
        if base is None:
            raise ValueError("atent_l2 needs a radius for its ball start and projection: set `radius` in its "
                             "config, or build the sampler with the threat's eps (build_sampler(cfg, eps))")
        return base * self.radius_scale

    def start(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.start == "ball":
            return Ball("l2", self.radius).random_start(x)
        return x + self.cfg.start_scale * torch.randn_like(x)

    def step(self, x_k: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, is_last: bool) -> torch.Tensor:
        if self.cfg.step_direction == "normalized":
            grad = grad / (per_sample_norm(grad, "l2") + 1e-12)
        pull = self.cfg.gamma * (x - x_k)
        if self.cfg.pullback == "scaled":
            x_next = x_k + self.cfg.step_size * (grad + pull) + self._noise(x_k)
        else:
            x_next = x_k + self.cfg.step_size * grad + pull + self._noise(x_k)
        if self.cfg.projection == "every_step":
            x_next = Ball("l2", self.radius).project(x_next, x)
        return x_next


def build_sampler(cfg: AtentLinfDefense | AtentL2Defense, eps: float | None = None) -> LangevinSampler:
    """The sampler of an ATENT config; eps is the experiment's threat radius (the l2 ball's default)."""
    return AtentLinf(cfg, eps) if cfg.kind == "atent_linf" else AtentL2(cfg, eps)
