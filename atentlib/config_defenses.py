"""Parameter schemas of the defenses (the `defenses:` entries of an experiment), one class per `kind`.
Defaults are the papers' reference set-ups; ambiguities of the papers are named fields."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import Field

from .config_base import Strict

__all__ = ["SgdDefense", "PgdAtDefense", "AtentLinfDefense", "AtentL2Defense", "TradesDefense", "MartDefense",
           "MmaDefense", "ActDefense", "EntropySgdDefense", "DefenseConfig"]


class _DefenseBase(Strict):
    """Every defense may override the experiment's train section (e.g. its own lr or epochs)."""

    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class _PgdCrafted(_DefenseBase):
    """Defenses whose x' comes from PGD in the experiment's ball from x + start_std * N(0, I)."""

    steps: int = Field(10, ge=1, description="PGD steps (CIFAR 10, MNIST 40)")
    step_size: float = Field(0.007, gt=0, description="PGD step (CIFAR 0.007, MNIST 0.01)")
    start_std: float = Field(0.001, ge=0, description="std of the normal start x + start_std * N(0, I)")


class SgdDefense(_DefenseBase):
    """Plain empirical risk minimisation."""

    kind: Literal["sgd"]


class PgdAtDefense(_DefenseBase):
    """PGD adversarial training (Madry et al.): CE at the PGD maximiser."""

    kind: Literal["pgd_at"]
    steps: int = Field(10, ge=1)
    step_size: float = Field(0.01, gt=0)
    random_start: bool = True
    attack_mode: Literal["eval", "train"] = Field("eval", description="model mode while crafting x'")


class AtentLinfDefense(_DefenseBase):
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


class AtentL2Defense(_DefenseBase):
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


class TradesDefense(_PgdCrafted):
    """TRADES (Zhang et al.): CE(f(x)) + beta * KL(f(x) || f(x')) / B, x' maximising the KL by PGD in the
    experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting. Defaults: CIFAR linf."""

    kind: Literal["trades"]
    beta: float = Field(6.0, ge=0, description="weight of the KL term (1/lambda); 6 in the papers, 5 in ACT's runs")


class MartDefense(_PgdCrafted):
    """MART (Wang et al.): boosted CE at x' + beta * mean_i KL(p(x_i) || p(x'_i)) (1 - p_y(x_i)), x' by CE PGD
    in the experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting."""

    kind: Literal["mart"]
    beta: float = Field(6.0, ge=0, description="weight of the misclassification-aware KL term")


class MmaDefense(_DefenseBase):
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


class ActDefense(_DefenseBase):
    """ACT (Arani et al.): a robust model G (the experiment's model) and a natural model F of the same
    architecture trained together, each distilling the other's detached output at temperature T."""

    kind: Literal["act"]
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the mimicry (KL) terms")
    temperature: float = Field(4.0, gt=0, description="KL temperature T; the KL is scaled by T^2 (authors' code)")
    steps: int = Field(10, ge=1, description="PGD steps maximising L_G")
    step_size: float = Field(0.007, gt=0, description="PGD step")
    random_start: bool = Field(True, description="uniform random start in the ball")
    attack_mode: Literal["eval", "train"] = Field("eval", description="G's mode while crafting x + delta")


class EntropySgdDefense(_DefenseBase):
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


DefenseConfig = Annotated[Union[SgdDefense, PgdAtDefense, AtentLinfDefense, AtentL2Defense, TradesDefense,
                                MartDefense, MmaDefense, ActDefense, EntropySgdDefense],
                          Field(discriminator="kind")]


def describe_defenses() -> str:
    """Every defense `kind` with its parameters, defaults and descriptions (for `python -m atentlib train --help`)."""
    lines = []
    for cls in get_args(get_args(DefenseConfig)[0]):   # the members of the discriminated union, in its order
        kind = cls.model_fields["kind"].annotation.__args__[0]
        lines.append(f"  {kind}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        for name, f in cls.model_fields.items():
            if name in ("kind", "train"):
                continue
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            lines.append(f"      {name} = {default}" + (f"  ({f.description})" if f.description else ""))
    lines.append("  every defense also takes `train:`, overrides of the experiment's train section")
    return "\n".join(lines)
