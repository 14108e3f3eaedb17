"""Parameter schemas of evaluation suites: the suite and its masking checks. The attacks' own schemas are those
of the attack registry (atentlib.attacks): AttackConfig validates any registered kind."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .attacks import ATTACKS
from .config_base import Strict

__all__ = ["AttackConfig", "MaskingConfig", "EvalConfig"]

AttackConfig = ATTACKS.field_type()  # one attack of a suite: the config class of its `kind` (see atentlib.attacks)


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
