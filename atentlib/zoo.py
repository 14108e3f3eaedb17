"""The model zoo: trained models others can attack without retraining.

zoo/index.json lists each model by name (e.g. `mnist_linf-atent_linf`) with its file, SHA-256, architecture, the
run it came from and its accuracies. The file is the run's own last.pt (weights, epoch and spec; committed with the
repository), named relative to zoo/, so the zoo adds no second copy of the weights. One line gives an eval-mode model
that takes inputs in [0, 1] (any normalisation is inside the model):

    from atentlib import zoo
    model = zoo.load("mnist_linf-atent_linf")

`export` lists a finished run's last checkpoint in the zoo (`python -m atentlib zoo --profile converged`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch
from torch import nn

from . import checkpoint, models
from .data import atomic_write_bytes

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
INDEX = "index.json"


class ZooError(RuntimeError):
    """A zoo model is unknown, missing, or does not match its recorded checksum."""


def index(zoo_dir: Path = ZOO_DIR) -> dict[str, dict]:
    """{name: entry} of the zoo's models (empty when the zoo has none)."""
    path = Path(zoo_dir) / INDEX
    return json.loads(path.read_text()) if path.exists() else {}


def load(name: str, device: torch.device | str = "cpu", zoo_dir: Path = ZOO_DIR) -> nn.Module:
    """The zoo model `name` in eval mode, its weights checked against the recorded SHA-256."""
    entries = index(zoo_dir)
    if name not in entries:
        raise ZooError(f"unknown zoo model {name!r}: available are {', '.join(sorted(entries)) or 'none'} "
                       f"({Path(zoo_dir) / INDEX})")
    entry = entries[name]
    path = (Path(zoo_dir) / entry["file"]).resolve()
    if not path.exists():
        raise ZooError(f"{path} is missing: the zoo's weights are committed with the repository "
                       f"(git checkout {entry['file'].lstrip('./')})")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != entry["sha256"]:
        raise ZooError(f"{path}: SHA-256 {digest} does not match the index's {entry['sha256']}; the file is damaged "
                       "or was changed (git checkout restores it)")
    model = models.build(entry["model"], num_classes=entry["num_classes"])
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.contiguous() for k, v in state["model"].items()})
    return model.to(device).eval()


def export(run_dir: Path, name: str, zoo_dir: Path = ZOO_DIR, accuracies: dict | None = None) -> dict:
    """List run_dir/last.pt (verified) in the zoo as `name`; returns its index entry."""
    path = Path(run_dir) / checkpoint.CHECKPOINT_FILES["last"]
    state = checkpoint.load(path)
    spec = state["spec"]
    raw = path.read_bytes()
    zoo_dir = Path(zoo_dir)
    run = json.loads((Path(run_dir) / "run.json").read_text()) if (Path(run_dir) / "run.json").exists() else {}
    entry = {"file": Path(os.path.relpath(path.resolve(), zoo_dir.resolve())).as_posix(),
             "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw),
             "model": spec["model"], "num_classes": spec["num_classes"], "profile": spec["profile"],
             "experiment": spec["experiment"], "defense": spec["defense"], "seed": run.get("seed"),
             "epoch": state["epoch"] + 1, "threat": spec["config"]["threat"], "inputs": "[0, 1], NCHW",
             "accuracies": accuracies or {}}
    entries = index(zoo_dir)
    entries[name] = entry
    atomic_write_bytes(zoo_dir / INDEX, (json.dumps(dict(sorted(entries.items())), indent=2) + "\n").encode())
    return entry


LISTING = "README.md"


def listing(zoo_dir: Path = ZOO_DIR) -> str:
    """Markdown: one row per zoo model with its file, SHA-256 and accuracies (each with the digits it was measured
    on), for zoo/README.md; written by `python -m atentlib zoo` so that it never drifts from the index."""
    entries = index(zoo_dir)
    lines = ["# Model zoo", "",
             "Trained models anyone can attack without retraining. `from atentlib import zoo; "
             "model = zoo.load(NAME)` gives an eval-mode `torch.nn.Module` that takes images in [0, 1] (NCHW) and "
             "returns logits; the file's SHA-256 is checked before loading. Accuracies are on held-out MNIST digits "
             "(percent, with how many digits), measured by this repository's evaluation and audit suites.", "",
             "| name | model | threat | seed | epochs | accuracies | file | SHA-256 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in entries.items():
        accs = "; ".join(f"{k} {v['accuracy']:.2f} ({v['n_examples']})" for k, v in e.get("accuracies", {}).items())
        threat = f"{e['threat']['norm']} {e['threat']['eps']}"
        lines.append(f"| `{name}` | {e['model']} | {threat} | {e.get('seed')} | {e['epoch']} "
                     f"| {accs or 'not evaluated'} | `{e['file'].removeprefix('../')}` ({e['bytes'] / 1e6:.1f} MB) "
                     f"| `{e['sha256']}` |")
    if not entries:
        lines.append("| (none yet: `python -m atentlib zoo --profile converged` lists the finished runs) "
                     "| | | | | | | |")
    return "\n".join(lines) + "\n"


def write_listing(zoo_dir: Path = ZOO_DIR) -> Path:
    """zoo/README.md from zoo/index.json."""
    path = Path(zoo_dir) / LISTING
    atomic_write_bytes(path, listing(zoo_dir).encode())
    return path
