"""One experiment end to end: every run of the profile trained, evaluated, audited, and collected in one file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from atentlib import data
from atentlib.config import load_profile
from atentlib.experiment import collect, run_experiment
from tests.conftest import smoke_results_dir


def test_collected_results_hold_every_run_of_the_profile_and_its_files(smoke_runs, smoke_profile_path):
    prof = load_profile(smoke_profile_path)
    exp = prof.experiments["mnist_linf"]
    got = json.loads((smoke_results_dir(smoke_runs) / prof.profile / "mnist_linf.json").read_text())
    assert list(got["runs"]) == list(exp.defenses)            # seed runs included (pgd_at_seed1)
    assert "pgd_at_seed1" in got["runs"]
    for d, entry in got["runs"].items():
        folder = smoke_runs / prof.profile / "mnist_linf" / d
        assert entry["evaluation"] == json.loads((folder / "eval.json").read_text())
        assert entry["run"] == json.loads((folder / "run.json").read_text())
        assert (entry["audit"] is not None) == (d in exp.audit_defenses)
        assert [row["epoch"] for row in entry["curves"]] == list(range(1, exp.train_config(d).epochs + 1))


def test_collect_names_the_missing_file_and_the_command(smoke_runs, smoke_profile_path, tmp_path):
    prof = load_profile(smoke_profile_path)
    with pytest.raises(FileNotFoundError, match=r"empty/smoke/mnist_linf/sgd/run\.json is missing: run python -m "
                                                r"atentlib run --profile smoke --experiment mnist_linf"):
        collect(prof, "mnist_linf", tmp_path / "empty", tmp_path / "results")


def test_running_an_experiment_again_resumes_and_gives_the_same_results(smoke_runs, smoke_profile_path, tmp_path):
    """A rerun of the stage (another defense changed, say) retrains nothing finished and measures the same."""
    prof = load_profile(smoke_profile_path)
    name = "mnist_linf_ablation"
    folder = smoke_runs / prof.profile / name
    before = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
              if p.name in ("checkpoint.pt.sha256", "best.pt.sha256", "metrics.csv")}
    evals = {p.relative_to(folder): _untimed(json.loads(p.read_text())["checkpoints"]) for p in folder.rglob("eval.json")}
    bundle = data.load("mnist", prof.data["mnist"], Path(prof.data["mnist"].root))
    lines: list[str] = []
    run_experiment(prof, name, bundle, torch.device("cpu"), runs_dir=smoke_runs, results_dir=tmp_path,
                   progress=False, log=lines.append)
    assert before and all((folder / k).read_bytes() == v for k, v in before.items())
    assert evals == {p.relative_to(folder): _untimed(json.loads(p.read_text())["checkpoints"])
                     for p in folder.rglob("eval.json")}
    assert not any(" epoch 1/" in line for line in lines)     # no epoch was trained again


def _untimed(node):
    """A result without its wall-clock fields (the only part of an evaluation that may differ between runs)."""
    if isinstance(node, dict):
        return {k: _untimed(v) for k, v in node.items() if k != "seconds"}
    return [_untimed(v) for v in node] if isinstance(node, list) else node
