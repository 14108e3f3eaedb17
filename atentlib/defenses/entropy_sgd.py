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

import torch
import torch.nn.functional as F
from torch import nn

from .base import Defense, StepOutput


class EntropySGD(Defense):
    name = "entropy_sgd"

    def __init__(self, cfg, ball):
        super().__init__(cfg, ball)
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
