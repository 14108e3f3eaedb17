"""One experiment of a profile, end to end: every run trained (or resumed), evaluated, audited, then collected.

The pipeline has one stage per experiment (`dvc repro run@<experiment>`): the runs are the profile's own defenses
(a defense with `seeds: [...]` is one run per seed), so adding a defense or a seed to the profile adds its run
without touching dvc.yaml. A finished run is resumed, not retrained (its checkpoint's fingerprint decides), so a
stage that reruns because one defense changed retrains that defense only. The experiment's results are gathered
into one file, results/<profile>/<experiment>.json, which the notebook stages depend on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from .checkpoint import run_dir, write_json
from .config import Profile
from .data import DataBundle

SUITE_FILES = {"evaluation": "eval.json", "audit": "audit.json"}


def evaluate_suite(profile: Profile, experiment: str, defense: str, suite_name: str, bundle: DataBundle,
                   device: torch.device, runs_dir: Path | str = "runs", progress: bool = True) -> dict:
    """Attack one run with a suite of its experiment: `evaluation` on the last checkpoint and (where best_of allows)
    the best one -> eval.json; `audit` on the last checkpoint -> audit.json. Returns the written result."""
    from .evaluate import evaluate_run

    exp = profile.experiment(experiment)
    exp.defense(defense)
    suite = exp.suite(suite_name)
    if suite_name == "audit":
        which: tuple[str, ...] = ("last",)
    else:
        which = ("last", "best") if suite.best_of is None or defense in suite.best_of else ("last",)
    return evaluate_run(run_dir(runs_dir, profile.profile, experiment, defense), bundle.test, suite, device,
                        bundle.info, progress=progress, checkpoints=which, filename=SUITE_FILES[suite_name])


def run_experiment(profile: Profile, experiment: str, bundle: DataBundle, device: torch.device,
                   runs_dir: Path | str = "runs", results_dir: Path | str = "results", progress: bool = True,
                   log: Callable[[str], None] = print) -> Path:
    """Train, evaluate and audit every run of the experiment in the profile's order; write and return the
    collected results file."""
    from .train import fit

    exp = profile.experiment(experiment)
    for defense in exp.defenses:
        out = run_dir(runs_dir, profile.profile, experiment, defense)
        fit(profile, experiment, defense, bundle, out, device, progress=progress, log=log)
        suites = ["evaluation"] + (["audit"] if defense in exp.audit_defenses else [])
        for suite in suites:
            res = evaluate_suite(profile, experiment, defense, suite, bundle, device, runs_dir, progress)
            for which, r in res["checkpoints"].items():
                log(describe_result(f"{experiment}/{defense} {suite} [{which}, epoch {r['epoch']}]", r))
    return collect(profile, experiment, runs_dir, results_dir)


def describe_result(label: str, r: dict) -> str:
    """One line of accuracies (and one of masking flags, when measured) of an evaluate_model result."""
    accs = ", ".join(f"{k} {v['accuracy']:.2f}" for k, v in r["attacks"].items())
    text = f"{label}: natural {r['natural']:.2f}, {accs}"
    if "masking" in r:
        m = r["masking"]
        text += f"\n  masking checks {'passed' if m['passed'] else 'FAILED'}: " + ", ".join(
            f"{k}={'ok' if f['passed'] else ('n/a' if f['passed'] is None else 'FAIL')}" for k, f in m["flags"].items())
    return text


def collect(profile: Profile, experiment: str, runs_dir: Path | str = "runs",
            results_dir: Path | str = "results") -> Path:
    """results/<profile>/<experiment>.json: for every run of the experiment, its run record (run.json), its
    evaluation and audit results and its per-epoch curves, in the profile's order. Fails naming a missing file."""
    from .train import read_metrics_csv

    exp = profile.experiment(experiment)
    runs = {}
    for defense in exp.defenses:
        folder = run_dir(runs_dir, profile.profile, experiment, defense)
        entry: dict = {}
        for key, name in (("run", "run.json"), ("evaluation", "eval.json")):
            path = folder / name
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run python -m atentlib run --profile "
                                        f"{profile.profile} --experiment {experiment}")
            entry[key] = json.loads(path.read_text())
        audit = folder / SUITE_FILES["audit"]
        entry["audit"] = json.loads(audit.read_text()) if defense in exp.audit_defenses and audit.exists() else None
        entry["curves"] = read_metrics_csv(folder / "metrics.csv")
        runs[defense] = entry
    out = Path(results_dir) / profile.profile / f"{experiment}.json"
    write_json({"profile": profile.profile, "experiment": experiment, "runs": runs}, out)
    return out

