"""Evaluation of a trained checkpoint under an attack suite from the profile -> eval.json.

Every attack of a suite is built by the attack registry (atentlib.attacks.build: its kind's plugin); the model is
in eval mode and inputs in [0, 1] throughout. Results: out["attacks"][name] = {"accuracy": %, the attack's
settings, "seconds"; for AutoAttack also "after_each": the accuracy after each attack of its cascade}, and
out["masking"] (the gradient-masking flags of atentlib.masking) when the suite asks for them.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from . import attacks, checkpoint
from .checkpoint import CHECKPOINT_FILES, load_model
from .config import AttackConfig, EvalConfig
from .curves import eps_curve
from .data import Split
from .masking import run_masking_checks
from .scoring import attack_accuracy, attack_correct, encode_correct, percent, predictions

# eps_curve (atentlib.curves) and attack_accuracy (atentlib.scoring) stay importable from here: notebooks call
# evaluate.eps_curve and evaluate.attack_accuracy
__all__ = ["attack_accuracy", "attacked_count", "eps_curve", "evaluate_model", "evaluate_run"]


def _masking(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: EvalConfig, measured: dict) -> dict:
    """The suite's masking checks, on the first examples, at the threat and steps of its pgd attack."""
    mo = cfg.masking_options
    base = next(a for a in cfg.attacks if a.kind == "pgd" and (mo.attack is None or a.name == mo.attack))
    m = min(mo.n_examples, len(y))
    t0 = time.time()
    # AutoAttack of the suite on the same examples and threat is reused, not run a second time
    known = {"autoattack": measured[a.name]["accuracy"] for a in cfg.attacks
             if a.kind == "autoattack" and a.norm == base.norm and a.eps == base.eps
             and attacked_count(a, len(y)) == m}
    flags = run_masking_checks(model, x[:m], y[:m], base.norm, base.eps, steps=base.steps,
                               restarts=mo.restarts,
                               more_steps_factor=mo.more_steps_factor, eps_factors=mo.eps_factors,
                               large_eps=mo.large_eps, blackbox=mo.blackbox, square_queries=mo.square_queries,
                               autoattack=mo.autoattack, autoattack_iters=mo.autoattack_iters, tol=mo.tol,
                               batch_size=cfg.batch_size, seed=cfg.seed, known=known)
    return {"attack": base.name, "n_examples": m, "passed": all(f["passed"] is not False for f in flags.values()),
            "flags": flags, "seconds": round(time.time() - t0, 1)}


def attacked_count(a: AttackConfig, n: int) -> int:
    """How many of the suite's n examples attack `a` runs on: its own n_examples when set and smaller."""
    return min(a.n_examples or n, n)


def evaluate_model(model: torch.nn.Module, test: Split, cfg: EvalConfig, device: torch.device,
                   progress: bool = True) -> dict:
    """Natural accuracy and accuracy under each attack of the suite, on the first n_examples test points."""
    n = min(cfg.n_examples or len(test), len(test))
    x, y = test.x[:n].to(device), test.y[:n].to(device)
    natural = predictions(model, x, cfg.batch_size) == y
    out = {"n_examples": n, "seed": cfg.seed, "natural": percent(natural), "attacks": {}}
    if cfg.per_example:
        out["natural_correct"] = encode_correct(natural)
    for a in cfg.attacks:
        torch.manual_seed(cfg.seed)  # each attack's randomness does not depend on the ones before it
        t0 = time.time()
        m = attacked_count(a, n)
        attack = attacks.build(a, model, attacks.AttackContext(seed=cfg.seed, batch_size=cfg.batch_size))
        correct = attack_correct(model, x[:m], y[:m], attack, cfg.batch_size, progress=progress, desc=a.name)
        out["attacks"][a.name] = {"accuracy": percent(correct), **a.model_dump(exclude={"name"}), "n_examples": m,
                                  "seconds": round(time.time() - t0, 1)}
        if cfg.per_example:  # which digits survive: paired tests of two models on the same digits
            out["attacks"][a.name]["correct"] = encode_correct(correct)
        if hasattr(attack, "accuracy_after_each"):  # AutoAttack: the accuracy after each attack of its cascade
            out["attacks"][a.name]["after_each"] = attack.accuracy_after_each()
    if cfg.masking:
        torch.manual_seed(cfg.seed)
        out["masking"] = _masking(model, x, y, cfg, out["attacks"])
    return out


def evaluate_run(run_dir: Path, test: Split, cfg: EvalConfig, device: torch.device, data_info: dict,
                 progress: bool = True, checkpoints: tuple[str, ...] = ("last", "best"),
                 filename: str = "eval.json") -> dict:
    """Evaluate checkpoints of a run folder (last and best by default); write run_dir/<filename>.

    A checkpoint saved at the same epoch as one already evaluated holds the same weights: its results are
    copied (with "same_as") instead of attacking the model a second time.
    """
    result = {"data": data_info, "git_commit": checkpoint.git_commit(), "checkpoints": {}}
    for which in checkpoints:
        name = CHECKPOINT_FILES[which]
        model, spec = load_model(Path(run_dir) / name, device)
        twin = next((w for w, r in result["checkpoints"].items() if r["epoch"] == spec["epoch"]), None)
        if twin is not None:
            res = {**result["checkpoints"][twin], "same_as": twin}
        else:
            res = evaluate_model(model, test, cfg, device, progress)
        res.update(epoch=spec["epoch"], selected=spec["selected"])
        result["checkpoints"][which] = res
        result.setdefault("profile", spec["profile"])
        result.setdefault("experiment", spec["experiment"])
        result.setdefault("defense", spec["defense"])
    checkpoint.write_json(result, Path(run_dir) / filename)
    return result
