"""Checkpoints that are written atomically and refused when damaged, and the trained model they hold.

A checkpoint is the torch.save bytes of a dict plus a sidecar `<name>.sha256`. Both are written to temporary
files and renamed, so a run killed at any instant leaves either the old or the new checkpoint, never half of
one; a file whose checksum does not match is reported, never silently loaded. `load_model` rebuilds the model a
checkpoint of the engine holds (evaluation, analyses and the zoo read models this way, without the engine).
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import models
from .data import atomic_write_bytes

# A run folder holds two trained models, each the weights, epoch and spec only (a few MB: small enough to commit), and
# the engine's resumable state (model, optimiser, schedule, RNG, curves: three times larger, scratch for resuming).
CHECKPOINT_FILES = {"last": "last.pt", "best": "best.pt"}
RESUME_FILE = "checkpoint.pt"
MODEL_KEYS = ("model", "epoch", "spec", "fingerprint", "selected")  # what last.pt and best.pt keep of a state


def run_dir(runs_dir: Path | str, profile: str, experiment: str, defense: str) -> Path:
    """The folder of one run: runs/<profile>/<experiment>/<defense>/ (checkpoints, curves, results)."""
    return Path(runs_dir) / profile / experiment / defense


class CheckpointError(RuntimeError):
    """A checkpoint is missing its checksum, truncated, or corrupted."""


def save(state: dict[str, Any], path: Path) -> str:
    """Write `state` to `path` atomically with a SHA-256 sidecar; returns the digest."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(Path(path), data)
    atomic_write_bytes(_sidecar(path), (digest + "\n").encode())
    return digest


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint after checking its SHA-256; raise CheckpointError naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; train it first (dvc repro, or python -m atentlib train)")
    side = _sidecar(path)
    if not side.exists():
        raise CheckpointError(f"checkpoint {path} has no checksum file {side.name}; refusing to load it")
    data = path.read_bytes()
    expected = side.read_text().strip()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(f"checkpoint {path} is corrupted or truncated: SHA-256 {actual[:12]}... does not match "
                              f"the recorded {expected[:12]}... ({len(data)} bytes). Delete it to retrain")
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)


def model_only(state: dict[str, Any], selected: str) -> dict[str, Any]:
    """The part of an engine state that evaluation needs (weights, epoch, spec), labelled with how it was selected."""
    return {**{k: state[k] for k in MODEL_KEYS if k in state}, "selected": selected}


def _sidecar(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_json(obj: Any, path: Path) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def git_commit() -> str:
    """The current git commit (with '+dirty' if the tree has changes), or 'unknown' outside a repository."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_model(path: Path, device: torch.device | str = "cpu",
               channels_last: bool = True) -> tuple[nn.Module, dict]:
    """A trained model (eval mode) and its checkpoint's spec, from a verified checkpoint of the engine.

    channels_last (speed only, on CPU and CUDA): PGD runs 1.2x faster per digit on a 2-core CPU
    (bench/bench_eval_layout.py); the outputs agree with the default layout to float32 rounding.
    """
    state = load(path, map_location=device)
    spec = state["spec"]
    model = models.build(spec["model"], num_classes=spec["num_classes"]).to(device)
    model.load_state_dict(state["model"])
    if models.use_channels_last(device, channels_last):
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    return model, {**spec, "epoch": state["epoch"] + 1, "selected": state.get("selected", "last epoch")}
