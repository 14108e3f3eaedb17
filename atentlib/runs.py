"""Finished runs as the analysis notebooks use them: the trained model of a run, and the held-out examples of its
experiment. One place that knows the layout runs/<profile>/<experiment>/<defense>/."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import data
from .checkpoint import CHECKPOINT_FILES, load_model, run_dir
from .config import Profile

__all__ = ["run_dir", "trained_model", "held_out"]

def trained_model(runs_dir: Path | str, profile: str, experiment: str, defense: str, which: str = "last",
                  device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The model (eval mode) of a finished run at its last or best checkpoint, and the checkpoint's spec."""
    if which not in CHECKPOINT_FILES:
        raise ValueError(f"which = {which!r}: allowed values are {', '.join(CHECKPOINT_FILES)}")
    path = run_dir(runs_dir, profile, experiment, defense) / CHECKPOINT_FILES[which]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: train it first (dvc repro run@{experiment}, or "
                                f"python -m atentlib train --profile {profile} --experiment {experiment} "
                                f"--defense {defense})")
    return load_model(path, device)


def held_out(profile: Profile, experiment: str, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n held-out examples of the experiment's dataset (the ones the evaluation suites start from)."""
    dataset = profile.experiment(experiment).dataset
    cfg = profile.data[dataset]
    test = data.load(dataset, cfg, data.data_root(dataset, cfg, profile.profile)).test
    n = len(test) if n is None else min(n, len(test))
    return test.x[:n], test.y[:n]
