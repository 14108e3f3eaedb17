"""Evaluation of a trained checkpoint under an attack suite from the profile -> eval.json."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from . import checkpoint
from .config import EvalConfig
from .data import Split
from .threat import Ball
from .train import accuracy, load_model, robust_accuracy


def evaluate_model(model: torch.nn.Module, test: Split, cfg: EvalConfig, device: torch.device,
                   progress: bool = True) -> dict:
    """Natural accuracy and accuracy under each attack of the suite, on the first n_examples test points."""
    n = min(cfg.n_examples or len(test), len(test))
    x, y = test.x[:n].to(device), test.y[:n].to(device)
    torch.manual_seed(cfg.seed)
    out = {"n_examples": n, "natural": accuracy(model, x, y, cfg.batch_size), "attacks": {}}
    for a in cfg.attacks:
        t0 = time.time()
        acc = robust_accuracy(model, x, y, Ball(a.norm, a.eps), a.steps, a.step_size, a.restarts,
                              cfg.batch_size, progress=progress, desc=a.name)
        out["attacks"][a.name] = {"accuracy": acc, "norm": a.norm, "eps": a.eps, "steps": a.steps,
                                  "step_size": a.step_size, "restarts": a.restarts,
                                  "seconds": round(time.time() - t0, 1)}
    return out


def evaluate_run(run_dir: Path, test: Split, cfg: EvalConfig, device: torch.device, data_info: dict,
                 progress: bool = True) -> dict:
    """Evaluate the last and the best checkpoint of a run folder; write run_dir/eval.json."""
    result = {"data": data_info, "git_commit": checkpoint.git_commit(), "checkpoints": {}}
    for which, name in (("last", "checkpoint.pt"), ("best", "best.pt")):
        model, spec = load_model(Path(run_dir) / name, device)
        res = evaluate_model(model, test, cfg, device, progress)
        res.update(epoch=spec["epoch"], selected=spec["selected"])
        result["checkpoints"][which] = res
        result.setdefault("profile", spec["profile"])
        result.setdefault("experiment", spec["experiment"])
        result.setdefault("defense", spec["defense"])
    checkpoint.write_json(result, Path(run_dir) / "eval.json")
    return result
