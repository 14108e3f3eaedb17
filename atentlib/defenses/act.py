"""ACT, Adversarial Concurrent Training (Arani et al.): a robust model G and a natural model F of the
same architecture trained together, each distilling the other's (detached) output:

    L_G = (1 - a) CE(G(x + d), y) + a T^2 KL(softmax(F(x)/T) || softmax(G(x + d)/T))
    L_F = (1 - a) CE(F(x), y)     + a T^2 KL(softmax(G(x + d)/T) || softmax(F(x)/T))

with d maximising L_G (per example) by PGD in the threat ball, a = 0.9, T = 4 (the temperature and the T^2
scale are the authors' code's; the paper writes the KL without them). KLs are batch means of the per-example KL.

G is the engine's model: `backward` accumulates grad L_G into G's parameters and the engine steps G's optimiser.
F, and its optimiser, belong to this defense: `backward` steps F itself. F is built from the context's model name
and number of classes; its optimiser like the context's optimiser of G (same class and settings), and F's learning
rate follows G's at every step, so the engine's schedule drives both. Simplification: the engine's gradient
clipping, if any, applies to G only.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from .. import models
from ..attacks.pgd import pgd
from ..config_base import DefenseConfigBase
from ..threat import Ball
from .base import Defense, DefenseContext, StepOutput
from .registry import DefensePlugin


class ActDefense(DefenseConfigBase):
    """ACT (Arani et al.): a robust model G (the experiment's model) and a natural model F of the same
    architecture trained together, each distilling the other's detached output at temperature T."""

    kind: Literal["act"]
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the mimicry (KL) terms")
    temperature: float = Field(4.0, gt=0, description="KL temperature T; the KL is scaled by T^2 (authors' code)")
    steps: int = Field(10, ge=1, description="PGD steps maximising L_G")
    step_size: float = Field(0.007, gt=0, description="PGD step")
    random_start: bool = Field(True, description="uniform random start in the ball")
    attack_mode: Literal["eval", "train"] = Field("eval", description="G's mode while crafting x + delta")


def distill_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, T: float) -> torch.Tensor:
    """[B]: T^2 KL(softmax(teacher/T) || softmax(student/T)) per example (the teacher is detached)."""
    p = F.softmax(teacher_logits.detach() / T, dim=1)
    return T * T * F.kl_div(F.log_softmax(student_logits / T, dim=1), p, reduction="none").sum(dim=1)


def act_losses(logits_g_adv: torch.Tensor, logits_f_nat: torch.Tensor, y: torch.Tensor, alpha: float,
               T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_G, L_F), both scalars; L_G only reaches G's logits, L_F only F's."""
    loss_g = (1 - alpha) * F.cross_entropy(logits_g_adv, y) + alpha * distill_kl(logits_f_nat, logits_g_adv, T).mean()
    loss_f = (1 - alpha) * F.cross_entropy(logits_f_nat, y) + alpha * distill_kl(logits_g_adv, logits_f_nat, T).mean()
    return loss_g, loss_f


class ACT(Defense):
    name = "act"

    def __init__(self, cfg: ActDefense, ball: Ball, context: DefenseContext | None = None):
        super().__init__(cfg, ball, context)
        ctx = self.context
        if ctx.model_name is None or ctx.optimizer is None:
            raise ValueError("defense 'act' needs model_name and optimizer: build it with defenses.build(cfg, ball, "
                             "DefenseContext(model_name=..., num_classes=..., optimizer=..., device=...))")
        self.natural = models.build(ctx.model_name, num_classes=ctx.num_classes)
        if ctx.device is not None:
            self.natural.to(ctx.device)
        self.lead = ctx.optimizer  # G's optimiser: F's copies its class and settings, and follows its lr
        self.optimizer = type(self.lead)(self.natural.parameters(), **self.lead.defaults)

    def _to(self, device: torch.device) -> None:
        """Move F and its optimiser state to `device` (F is built on the CPU unless told otherwise)."""
        if next(self.natural.parameters()).device == device:
            return
        self.natural.to(device)
        for st in self.optimizer.state.values():
            for k, v in st.items():
                if torch.is_tensor(v) and v.dim() > 0:
                    st[k] = v.to(device)

    def _sync_lr(self) -> None:
        lead_groups = self.lead.param_groups
        for i, g in enumerate(self.optimizer.param_groups):
            g["lr"] = lead_groups[min(i, len(lead_groups) - 1)]["lr"]

    def backward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> StepOutput:
        c = self.cfg
        self._to(x.device)
        f_model = self.natural
        f_model.train()
        logits_f = f_model(x)
        target = logits_f.detach()

        def loss_g_per_example(logits: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            return (1 - c.alpha) * F.cross_entropy(logits, yy, reduction="none") + \
                c.alpha * distill_kl(target, logits, c.temperature)

        ball = self.ball
        if ball.eps > 0:
            x_adv = pgd(model, x, y, ball, steps=c.steps, step_size=c.step_size, random_start=c.random_start,
                        loss_fn=loss_g_per_example, train_mode=c.attack_mode == "train")
        else:
            x_adv = x
        logits_g = model(x_adv)
        loss_g, loss_f = act_losses(logits_g, logits_f, y, c.alpha, c.temperature)
        loss_g.backward()  # into G's .grad; the engine steps G
        self.optimizer.zero_grad(set_to_none=True)
        loss_f.backward()  # into F's .grad only (G's logits are detached inside L_F)
        self._sync_lr()
        self.optimizer.step()
        self.last_natural_loss = loss_f.detach()
        return StepOutput(loss_g.detach(), x_adv)

    def state_dict(self) -> dict:
        return {"natural": self.natural.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.natural.load_state_dict(state["natural"])
        self.optimizer.load_state_dict(state["optimizer"])


PLUGINS = (DefensePlugin("act", ACT, ActDefense, "ACT",
                         distributed_unsupported="its natural model F is stepped inside the defense, each rank on its "
                         "own shard"),)
