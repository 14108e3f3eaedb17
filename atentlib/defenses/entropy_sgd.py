"""Entropy-SGD (Chaudhari et al. 2019) as the ATENT supplement writes it (B.2, Algorithm 1).

Per batch (x, y), with w the current weights:
    w'^0 = w, mu = w
    for k = 0..L-1:
        dw'  = -grad L(w'^k; x, y) + gamma (w - w'^k)
        w'^{k+1} = w'^k + eta' dw' + sqrt(2 eta') eps N(0, I)          (Langevin step)
        mu   = (1 - alpha) mu + alpha w'^{k+1}
    gradient handed to the engine: (w - mu)   (outer step w <- w - eta (w - mu), as Chaudhari's code)
    (outer_gradient "gamma": gamma (w - mu), as line 11 of the algorithm writes)
(line 6 of the algorithm writes the gradient "at w^k": it is at the inner iterate w'^k, as in Chaudhari et al.)
The same batch serves all L inner steps, as Algorithm 1 writes. The weights are restored to w before returning;
batch-norm running statistics see the L inner forwards (as in Chaudhari's code).

Reduction to plain SGD. The supplement: gamma -> infinity makes the sampling sharp, "no smoothing effect".
Exactly: with L = 1, no noise (eps = 0), alpha = 1, mu = w'^1 = w - eta' grad L(w), so the gradient is
eta' grad L(w): plain SGD's gradient when eta' = 1 (outer_gradient "gamma": gamma eta' grad L(w), when
eta' = 1/gamma). For any L, with eps = 0, alpha = 1 and eta' = 1/gamma, w'^{k+1} = w - eta' grad L(w'^k), so the
"gamma" gradient is grad L(w'^{L-1}) -> grad L(w) as gamma -> infinity (w' stays within L eta' |grad| of w).

Choices where the supplement is silent (defaults from Chaudhari's code): eta' = 0.1, eps = 1e-4, alpha = 0.25
(his mu <- 0.75 mu + 0.25 w'); no momentum or weight decay inside the inner loop (his code has them); the
optional scoping gamma_t = gamma (1 + scoping)^t. The outer gradient is Chaudhari's (w - mu) by default: with the
supplement's gamma = 1e-3 and lr 0.1 the literal gamma (w - mu) makes outer steps ~1e-3 times as large, far
smaller than SGD's at the same lr, and the model barely moves; `outer_gradient: gamma` keeps the literal one.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..config_base import DefenseConfigBase
from ..threat import Ball
from .base import Defense, DefenseContext, StepOutput
from .registry import DefensePlugin


class EntropySgdDefense(DefenseConfigBase):
    """Entropy-SGD (Chaudhari et al.; supplement B.2, Algorithm 1): K Langevin steps over weights w' coupled to w,
    running average mu of the iterates, and the gradient (w - mu) handed to the engine's optimiser (Chaudhari's
    code; `outer_gradient: gamma` gives Algorithm 1's literal gamma (w - mu))."""

    kind: Literal["entropy_sgd"]
    L: int = Field(5, ge=1, description="inner Langevin steps per batch (K in Algorithm 1)")
    gamma: float = Field(1e-3, gt=0, description="coupling gamma of w' to w (scoping start)")
    scoping: float = Field(0.0, ge=0, description="gamma_t = gamma (1 + scoping)^t, t = batches seen (0: constant)")
    inner_lr: float = Field(0.1, gt=0, description="eta' of the Langevin step (Chaudhari's code: 0.1)")
    noise: float = Field(1e-4, ge=0, description="epsilon: the noise is sqrt(2 eta') * noise * N(0, I) "
                         "(Chaudhari: 1e-4)")
    alpha: float = Field(0.25, gt=0, le=1, description="mu <- (1 - alpha) mu + alpha w' (Chaudhari's code: 1 - 0.75)")
    outer_gradient: Literal["gamma", "unscaled"] = Field(
        "unscaled", description="unscaled: (w - mu), as Chaudhari's code does; gamma: gamma (w - mu) as "
        "Algorithm 1 line 11 writes (with the supplement's gamma = 1e-3 an outer step is 1e-3 x the unscaled "
        "one, ~3e-4 x an SGD step at the same lr: the model barely trains)")


class EntropySGD(Defense):
    name = "entropy_sgd"

    def __init__(self, cfg: EntropySgdDefense, ball: Ball, context: DefenseContext | None = None):
        super().__init__(cfg, ball, context)
        self.t = 0  # batches seen, for scoping

    @property
    def gamma(self) -> float:
        return self.cfg.gamma * (1.0 + self.cfg.scoping) ** self.t

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c, gamma = self.cfg, self.gamma
        params = [p for p in model.parameters() if p.requires_grad]
        noise_std = math.sqrt(2.0 * c.inner_lr) * c.noise
        with torch.no_grad():
            w = [p.detach().clone() for p in params]
            mu = [p.detach().clone() for p in params]
        loss_at_w = None
        try:
            for _ in range(c.L):
                loss = F.cross_entropy(model(x), y)
                grads = torch.autograd.grad(loss, params)
                if loss_at_w is None:
                    loss_at_w = loss.detach()
                with torch.no_grad():
                    for p, g, w0, m in zip(params, grads, w, mu):
                        p.add_(c.inner_lr * (gamma * (w0 - p) - g))
                        if noise_std > 0:
                            p.add_(torch.randn_like(p), alpha=noise_std)
                        m.mul_(1.0 - c.alpha).add_(p, alpha=c.alpha)
        finally:
            with torch.no_grad():
                for p, w0 in zip(params, w):
                    p.copy_(w0)
        scale = gamma if c.outer_gradient == "gamma" else 1.0
        for p, w0, m in zip(params, w, mu):
            g = scale * (w0 - m)
            p.grad = g if p.grad is None else p.grad.add_(g)
        self.t += 1
        return StepOutput(loss_at_w)

    def state_dict(self) -> dict:
        return {"t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state.get("t", 0))


PLUGINS = (DefensePlugin("entropy_sgd", EntropySGD, EntropySgdDefense, "Entropy-SGD"),)
