"""Fixtures: tiny MNIST-format data written by the tests themselves (never the real digits), and a smoke
profile pointing at it. Nothing here downloads anything."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import pytest
import yaml

from atentlib import data
from atentlib.config import PARAMS_DIR, Profile, load_profile

N_IMAGES = 400


def run_nbval(nb: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run nbval (lax: cells must run without error) on an .ipynb in a fresh pytest process; assert it passed."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
                          "-p", "no:cacheprovider", str(nb)], capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return out


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC 28x28 uint8 images for tests only: class c is a bright bar at a class-specific place plus noise,
    so a small model can learn it in one epoch. Never used for anything reported."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, c in enumerate(labels):
        r = 3 + 2 * c
        images[i, r:r + 3, 4:24] = 230
    return images, labels.astype(np.uint8)


def write_torchvision_mnist(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write idx files exactly as torchvision's MNIST stores them (big-endian header, raw uint8 body),
    independently of atentlib's own writer, plus the checksum manifest the loader verifies."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, cols = images.shape
    (folder / data.NPM_IMAGES).write_bytes(struct.pack(">IIII", 2051, n, rows, cols) + images.tobytes())
    (folder / data.NPM_LABELS).write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    manifest = {"source": "synthetic test data", "n_images": int(n),
                "files": {f: data.sha256_file(folder / f) for f in (data.NPM_IMAGES, data.NPM_LABELS)}}
    (folder / data.MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="session")
def tiny_mnist_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-mnist")
    write_torchvision_mnist(folder, *synthetic_digits(N_IMAGES))
    return folder


def smoke_profile_dict(data_root: Path) -> dict:
    raw = yaml.safe_load((PARAMS_DIR / "smoke.yaml").read_text())
    raw["data"]["mnist"]["root"] = str(data_root)
    # CIFAR-10 is never on a test machine: an empty folder beside the digits, so its notebooks take the
    # "files missing" path (and nothing looks in data/ of the checkout)
    empty = Path(data_root).parent / f"{Path(data_root).name}-no-cifar10"
    empty.mkdir(exist_ok=True)
    raw["data"]["cifar10"]["root"] = str(empty)
    return raw


@pytest.fixture(scope="session")
def smoke_runs_dir(tmp_path_factory) -> Path:
    """Where smoke_runs trains (created empty here, so the profile can point fine-tuning at it)."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def smoke_profile_path(tmp_path_factory, tiny_mnist_dir, smoke_runs_dir) -> Path:
    raw = smoke_profile_dict(tiny_mnist_dir)
    finetune = raw["experiments"]["mnist_linf_finetune"]["train"]
    finetune["init_from"] = str(smoke_runs_dir / finetune["init_from"].removeprefix("runs/"))
    path = tmp_path_factory.mktemp("profile") / "smoke.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def smoke_results_dir(runs: Path) -> Path:
    """Where the smoke runs' collected results (results/<profile>/<experiment>.json) are written."""
    return runs.parent / f"{runs.name}-results"


SMOKE_DEFENSES = ("sgd", "pgd_at", "atent_linf")  # the Table 2 rows most tests look at


@pytest.fixture(scope="session")
def smoke_runs(smoke_runs_dir, smoke_profile_path) -> Path:
    """runs/smoke/<experiment>/<defense>/ for every experiment and defense of the smoke profile, trained and
    evaluated once per session (seconds each: tiny data, two epochs, two-step attacks)."""
    from atentlib.config import load_profile
    from atentlib.experiment import run_experiment
    from atentlib.optional_data import OPTIONAL_DATASETS

    runs = smoke_runs_dir
    prof = load_profile(smoke_profile_path)
    bundle = data.load("mnist", prof.data["mnist"], Path(prof.data["mnist"].root))
    for name, exp in prof.experiments.items():
        if exp.dataset in OPTIONAL_DATASETS:  # run by their notebooks where the real files are
            continue
        run_experiment(prof, name, bundle, torch.device("cpu"), runs_dir=runs, results_dir=smoke_results_dir(runs),
                       progress=False, log=lambda *_: None)
    return runs


def small_smoke_profile(smoke_profile_path: Path, tmp_path: Path, name: str = "p", device: str | None = None,
                        **train_overrides) -> tuple[Profile, data.DataBundle]:
    """The smoke profile with 100 training images, `device` if given, and `train_overrides` in mnist_linf's train
    section; with its loaded MNIST data."""
    raw = yaml.safe_load(Path(smoke_profile_path).read_text())
    raw["data"]["mnist"]["n_train"] = 100
    if device is not None:
        raw["device"] = device
    raw["experiments"]["mnist_linf"]["train"].update(train_overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    prof = load_profile(path)
    cfg = prof.data["mnist"]
    return prof, data.load("mnist", cfg, Path(cfg.root))
