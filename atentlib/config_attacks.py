"""Parameter schemas of evaluation suites: the attacks (one class per `kind`), the masking checks, the suite."""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from .config_base import Strict

__all__ = ["PgdAttack", "FgsmAttack", "CwLinfAttack", "FoolboxPgdAttack", "CwL2Attack", "DeepFoolAttack",
           "AutoAttackAttack", "AtentAttack", "MaskingConfig", "EvalConfig", "ATTACK_KINDS", "AttackConfig"]


class _AttackBase(Strict):
    name: str = Field(..., min_length=1, description="column name in tables, e.g. pgd20")
    eps: float = Field(..., ge=0, description="radius of the threat ball")
    n_examples: int | None = Field(None, ge=1, description="attack only the first n of the suite's examples (a slow "
                                   "attack on a subset); None: all of them")


class _IterativeAttack(_AttackBase):
    """Fields of the PGD-style attacks: steps of a given size from a random start, worst case over restarts."""

    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0)
    restarts: int = Field(1, ge=1)
    random_start: bool = True


class PgdAttack(_IterativeAttack):
    """PGD on cross-entropy (atentlib.attacks.pgd), worst case over restarts. `kind` may be left out."""

    kind: Literal["pgd"] = "pgd"
    norm: Literal["linf", "l2"]


class FgsmAttack(_AttackBase):
    """One step of length eps along sign(grad) (linf) or grad/||grad|| (l2) of the cross-entropy."""

    kind: Literal["fgsm"]
    norm: Literal["linf", "l2"] = "linf"


class CwLinfAttack(_IterativeAttack):
    """PGD on the CW margin loss max_{j != y} z_j - z_y, as TRADES and MART evaluate "CW-linf"."""

    kind: Literal["cw_linf"]
    norm: Literal["linf"] = "linf"


class FoolboxPgdAttack(_AttackBase):
    """foolbox 3 LinfPGD / L2PGD (an independent implementation of PGD, for cross-checking ours)."""

    kind: Literal["foolbox_pgd"]
    norm: Literal["linf", "l2"]
    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0, description="absolute step size (foolbox abs_stepsize)")
    random_start: bool = True


class CwL2Attack(_AttackBase):
    """foolbox L2CarliniWagnerAttack; its minimal adversarial is clipped to the l2 ball of radius eps."""

    kind: Literal["cw_l2"]
    norm: Literal["l2"] = "l2"
    steps: int = Field(1000, ge=1, description="optimisation steps per binary-search step")
    binary_search_steps: int = Field(9, ge=1)
    step_size: float = Field(0.01, gt=0, description="Adam learning rate")
    confidence: float = Field(0.0, ge=0)
    initial_const: float = Field(1e-3, gt=0)


class DeepFoolAttack(_AttackBase):
    """foolbox L2DeepFoolAttack / LinfDeepFoolAttack, clipped to the ball of radius eps."""

    kind: Literal["deepfool"]
    norm: Literal["linf", "l2"]
    steps: int = Field(50, ge=1)
    candidates: int = Field(10, ge=2, description="most likely classes tried (capped at the number of classes)")
    overshoot: float = Field(0.02, ge=0)
    loss: Literal["logits", "crossentropy"] = "logits"


class AutoAttackAttack(_AttackBase):
    """Croce & Hein's AutoAttack from the `pyautoattack` package (standard: APGD-CE, APGD-T, FAB-T, Square)."""

    kind: Literal["autoattack"]
    norm: Literal["linf", "l2"]
    version: Literal["standard", "plus", "rand"] = "standard"


class AtentAttack(_AttackBase):
    """linf-ATENT's Langevin sampler used as an attack (Table S3): K = steps, radius = eps, model in eval mode."""

    kind: Literal["atent"]
    norm: Literal["linf"] = "linf"
    steps: int = Field(..., ge=1, description="K, Langevin steps")
    step_size: float = Field(..., gt=0, description="eta'")
    noise: float = Field(1e-3, ge=0, description="noise scale epsilon of the Langevin step")
    start: Literal["corner", "normal", "uniform"] = "corner"
    projection: Literal["final", "every_step", "clip_last_step"] = "final"
    step_direction: Literal["sign", "raw"] = "sign"


ATTACK_KINDS = ("pgd", "fgsm", "cw_linf", "foolbox_pgd", "cw_l2", "deepfool", "autoattack", "atent")
AttackConfig = Annotated[Union[PgdAttack, FgsmAttack, CwLinfAttack, FoolboxPgdAttack, CwL2Attack, DeepFoolAttack,
                               AutoAttackAttack, AtentAttack], Field(discriminator="kind")]


class MaskingConfig(Strict):
    """Settings of the gradient-masking checks (atentlib.masking), run when EvalConfig.masking is true.

    The threat (norm, eps) and steps are those of the suite's pgd attack named `attack`; the checks' step sizes
    follow 2.5 eps / steps at each radius (Madry et al.), so that every radius can be crossed."""

    attack: str | None = Field(None, description="suite attack (pgd kind) whose threat and steps the checks use "
                               "(None: the first pgd attack of the suite)")
    n_examples: int = Field(200, ge=1, description="first test examples checked")
    eps_factors: list[float] = Field([0.0, 0.25, 0.5, 1.0, 1.5, 2.0], min_length=2,
                                     description="the accuracy-vs-eps curve at these multiples of eps")
    large_eps: float | None = Field(None, gt=0, description="radius where accuracy must fall to ~0 "
                                    "(None: the box's diameter, 1 in linf and sqrt(dim) in l2)")
    more_steps_factor: int = Field(4, ge=2, description="the budget check runs steps and steps*factor")
    restarts: int = Field(3, ge=1, description="restarts of the largest budget")
    blackbox: Literal["square", "off"] = Field("square", description="black-box attack: Square (queries)")
    square_queries: int = Field(500, ge=1)
    autoattack: Literal["cheap", "standard", "off"] = Field(
        "cheap", description="cheap: APGD-CE + APGD-T with autoattack_iters iterations; standard: full AutoAttack")
    autoattack_iters: int = Field(50, ge=1)
    tol: float = Field(1.0, ge=0, description="slack in accuracy points (at least one example)")


class EvalConfig(Strict):
    n_examples: int | None = Field(None, ge=1, description="test examples attacked (None: all)")
    batch_size: int = Field(500, ge=1)
    seed: int = 0
    attacks: list[AttackConfig]
    masking: bool = Field(False, description="run the gradient-masking checks (out['masking'])")
    masking_options: MaskingConfig = MaskingConfig()
    best_of: list[str] | None = Field(
        None, description="defenses whose best checkpoint (best.pt, chosen on the validation digits) is attacked "
        "besides the last one (None: every defense); the others' best.pt is left unattacked, to save time")
    per_example: bool = Field(False, description="also record which digits each attack leaves correctly "
                              "classified (a string of 0/1 per attack, in the digits' order): the paired, per-digit "
                              "comparison of two models (McNemar) needs it")

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        """An attack without `kind` is PGD (profiles written before other kinds existed)."""
        if isinstance(data, dict) and isinstance(data.get("attacks"), list):
            data = {**data, "attacks": [{"kind": "pgd", **a} if isinstance(a, dict) and "kind" not in a else a
                                        for a in data["attacks"]]}
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> "EvalConfig":
        names = [a.name for a in self.attacks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"attack names must be unique; repeated: {dup}")
        if self.masking:
            pgds = [a.name for a in self.attacks if a.kind == "pgd"]
            want = self.masking_options.attack
            if (want is None and not pgds) or (want is not None and want not in pgds):
                raise ValueError(f"masking needs a pgd attack of the suite (masking_options.attack = {want!r}); "
                                 f"pgd attacks here: {pgds}")
        return self
