"""MMA training (Ding et al. 2020, "MMA Training: Direct Input Space Margin Maximization through Adversarial
Training"), following the authors' code (BorealisAI/mma_training: trainer.py, anpgd.py, config.py).

Per batch:
1. clean logits (train mode); an example counts as correct when its soft logit margin
   slm = logsumexp_{k != y} z_k - z_y is negative;
2. for correct examples, AN-PGD: PGD on the summed slm inside the example's own ball of radius eps_i
   (eps_i = the radius stored for it last time, floored at min_eps), step step_scale * eps_i / steps, eval mode;
   then a bisection on the radius along the direction u = (x' - x) / eps_i, in [eps_i, max_eps] if x' did not
   flip the margin and in [0, eps_i] if it did: the new radius is the smallest one found to flip it;
3. loss = clean_weight * CE(f(x)) + (1 - clean_weight) * (1/B) [ sum_{correct, eps_i < d_max} CE(f(x + eps_i u))
   + sum_{wrong} CE(f(x)) ];
4. the new radii are stored per dataset index (0 for misclassified examples, so they restart at min_eps).

Simplifications and choices: the margin loss inside the hinge is CE (the authors' default "xent"); the radius
store is a dense tensor grown to the largest index seen; d_max defaults to the experiment's threat eps; points
are clamped to [0, 1] (the authors' returned x + eps u is not); no separate OMMA class (clean_weight = 0).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..attacks.pgd import pgd
from ..config_base import DefenseConfigBase
from ..threat import Ball, Norm, model_mode, per_example, per_sample_norm
from .base import Defense, DefenseContext, StepOutput
from .registry import DefensePlugin


class MmaDefense(DefenseConfigBase):
    """MMA (Ding et al.): per-example radius kept across epochs; AN-PGD (PGD at the stored radius, then a
    bisection along its direction for the smallest radius that flips the soft logit margin); CE there when the
    radius is below d_max, CE on the clean input for misclassified points; clean CE mixed in at clean_weight.
    Defaults follow the authors' code (BorealisAI/mma_training, config.py)."""

    kind: Literal["mma"]
    d_max: float | None = Field(None, gt=0, description="hinge threshold d_max (None: the experiment's threat "
                                "eps, scaled during an eps warm-up); the papers' CIFAR l2 run uses 1")
    min_eps: float | None = Field(None, gt=0, description="floor of the stored radius (None: d_max / 2; authors: "
                                  "0.5 for l2 CIFAR/MNIST, 0.1 MNIST linf, 0.005 CIFAR linf)")
    max_eps_factor: float = Field(1.05, ge=1, description="bisection upper bound = max_eps_factor * d_max")
    steps: int = Field(10, ge=1, description="PGD steps of AN-PGD (authors: CIFAR 10, MNIST 40)")
    step_scale: float = Field(2.5, gt=0, description="PGD step = step_scale * radius / steps")
    search_steps: int = Field(10, ge=1, description="bisection steps")
    clean_weight: float = Field(1 / 3, ge=0, le=1, description="weight of the clean CE gradient (1/3; 0 = OMMA)")
    random_start: bool = Field(True, description="uniform random start inside the per-example ball")


def soft_logit_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[B]: logsumexp of the other classes' logits minus the true one (negative: correctly classified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], -float("inf"))
    return torch.logsumexp(others, dim=1) - true


def uniform_start(x: torch.Tensor, ball: Ball) -> torch.Tensor:
    """The authors' random start in each example's ball: uniform in the linf ball, a random direction at a uniform
    radius in the l2 ball, projected onto the ball and [0, 1]."""
    e = per_example(ball.eps, x)
    if ball.norm == "linf":
        return ball.project(x + (2 * torch.rand_like(x) - 1) * e, x)
    d = torch.randn_like(x)
    d = d / (per_sample_norm(d, "l2") + 1e-12) * per_example(torch.rand(len(x), device=x.device), x) * e
    return ball.project(x + d, x)


def per_example_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, norm: Norm,
                    steps: int, step_scale: float, random_start: bool) -> torch.Tensor:
    """PGD maximising the summed soft logit margin with a radius per example (eps [B]) and a step of
    step_scale * eps_i / steps; eval mode."""
    ball = Ball(norm, eps)
    start = uniform_start(x, ball) if random_start else None
    return pgd(model, x, y, ball, steps, step_scale * eps / steps, random_start=False, start=start,
               loss_fn=soft_logit_margin)


@torch.no_grad()
def bisection(model: nn.Module, x: torch.Tensor, y: torch.Tensor, unit: torch.Tensor, eps: torch.Tensor,
              margin: torch.Tensor, max_eps: float, search_steps: int) -> torch.Tensor:
    """Smallest radius r in [0, max_eps] with slm(f(x + r unit)) >= 0, by bisection from r = eps whose margin is
    `margin` (authors' bisection_search); eval mode. Returns r [B]."""
    lo, hi = torch.zeros_like(eps), torch.full_like(eps, max_eps)
    cur = eps
    with model_mode(model, False):
        for _ in range(search_steps):
            still_correct = margin < 0
            lo = torch.maximum(torch.where(still_correct, cur, torch.zeros_like(cur)), lo)
            hi = torch.minimum(torch.where(still_correct, torch.full_like(cur, max_eps), cur), hi)
            cur = (lo + hi) / 2
            margin = soft_logit_margin(model((x + per_example(cur, x) * unit).clamp(0.0, 1.0)), y)
    return cur


class MMA(Defense):
    name = "mma"

    def __init__(self, cfg: MmaDefense, ball: Ball, context: DefenseContext | None = None):
        super().__init__(cfg, ball, context)
        self.radii = torch.zeros(0)  # per dataset index; 0: not seen yet, or misclassified last time

    @property
    def d_max(self) -> float:
        return self.cfg.d_max * self.eps_scale if self.cfg.d_max is not None else self.ball.eps

    @property
    def max_eps(self) -> float:
        return self.cfg.max_eps_factor * self.d_max

    @property
    def min_eps(self) -> float:
        m = self.cfg.min_eps if self.cfg.min_eps is not None else self.d_max / 2
        return min(m, self.d_max)

    def _store(self, index: torch.Tensor) -> torch.Tensor:
        need = int(index.max().item()) + 1 if len(index) else 0
        if self.radii.device != index.device:
            self.radii = self.radii.to(index.device)
        if need > len(self.radii):
            grown = torch.zeros(need, device=index.device)
            grown[:len(self.radii)] = self.radii
            self.radii = grown
        return self.radii

    def an_pgd(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, prev: torch.Tensor):
        """(x + r u clamped, r) for correctly classified x with starting radii prev [B]."""
        c = self.cfg
        x_adv = per_example_pgd(model, x, y, prev, self.ball.norm, c.steps, c.step_scale, c.random_start)
        unit = (x_adv - x) / per_example(prev + 1e-12, x)
        with torch.no_grad(), model_mode(model, False):
            margin = soft_logit_margin(model(x_adv), y)
        r = bisection(model, x, y, unit, prev, margin, self.max_eps, c.search_steps)
        return (x + per_example(r, x) * unit).clamp(0.0, 1.0), r

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c = self.cfg
        logits = model(x)
        clean = F.cross_entropy(logits, y)
        if self.d_max <= 0:  # eps warm-up at zero: plain CE
            clean.backward()
            return StepOutput(clean.detach())
        radii = self._store(index)
        correct = soft_logit_margin(logits.detach(), y) < 0
        x_mma, r = x.clone(), torch.zeros(len(x), device=x.device)
        if correct.any():
            prev = radii[index[correct]].to(x.dtype).clamp(min=self.min_eps, max=self.max_eps)
            x_mma[correct], r[correct] = self.an_pgd(model, x[correct], y[correct], prev)
        ce = F.cross_entropy(model(x_mma), y, reduction="none")
        keep = (~correct) | (r < self.d_max)
        mma = (ce * keep).sum() / len(x)
        loss = c.clean_weight * clean + (1.0 - c.clean_weight) * mma
        loss.backward()
        radii[index] = r.to(radii.dtype)
        return StepOutput(loss.detach(), x_mma)

    def state_dict(self) -> dict:
        return {"radii": self.radii.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.radii = state["radii"].detach().clone().float()


PLUGINS = (DefensePlugin("mma", MMA, MmaDefense, "MMA",
                         distributed_unsupported="its per-example radii are updated by each rank on its own shard"),)
