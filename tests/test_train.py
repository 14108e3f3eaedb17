"""The training engine on tiny data: it learns, resumes after SIGKILL to the same numbers, refuses damaged
checkpoints, and stops on a NaN loss naming the epoch and batch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from atentlib import checkpoint, data
from atentlib.config import load_profile
from atentlib.checkpoint import load_model
from atentlib.train import TrainingError, fit

ROOT = Path(__file__).resolve().parent.parent


def _bundle(profile):
    cfg = profile.data["mnist"]
    return data.load("mnist", cfg, Path(cfg.root))


@pytest.mark.parametrize("defense", ["sgd", "pgd_at", "atent_linf"])
def test_each_defense_trains_and_writes_its_files(smoke_runs, defense):
    run = smoke_runs / "smoke" / "mnist_linf" / defense
    for f in ("checkpoint.pt", "checkpoint.pt.sha256", "last.pt", "last.pt.sha256", "best.pt", "best.pt.sha256",
              "metrics.csv", "run.json", "eval.json"):
        assert (run / f).exists(), f
    model, spec = load_model(run / "last.pt")
    assert spec["defense"] == defense and spec["epoch"] == 2 and not model.training
    # last.pt and best.pt are the models alone (small enough to commit); checkpoint.pt is the state to resume from
    resume, last, best = (checkpoint.load(run / f) for f in ("checkpoint.pt", "last.pt", "best.pt"))
    assert {"optimizer", "scheduler", "rng", "history"} <= set(resume)
    assert set(last) == set(best) == {"model", "epoch", "spec", "fingerprint", "selected"}
    assert last["epoch"] == resume["epoch"] and last["selected"] == "last epoch"
    assert all(torch.equal(last["model"][k], v) for k, v in resume["model"].items())
    rob = list(pd.read_csv(run / "metrics.csv")["val_robust"])
    assert best["epoch"] == rob.index(max(rob)) and best["selected"] == "best robust validation accuracy"
    hist = pd.read_csv(run / "metrics.csv")
    assert len(hist) == 2
    assert hist["val_natural"].iloc[-1] > 30  # the synthetic bars are easy: well above 10% chance


def test_loaded_model_is_channels_last_and_agrees_with_the_default_layout(smoke_runs):
    path = smoke_runs / "smoke" / "mnist_linf" / "pgd_at" / "checkpoint.pt"
    fast, _ = load_model(path)
    plain, _ = load_model(path, channels_last=False)
    def deep_conv(model):  # a convolution with several input channels (for one channel both layouts coincide)
        return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)

    assert deep_conv(fast).weight.is_contiguous(memory_format=torch.channels_last)
    assert not deep_conv(plain).weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(16, 1, 28, 28)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)


def test_corrupted_checkpoint_is_refused(smoke_profile_path, tmp_path):
    prof = load_profile(smoke_profile_path)
    fit(prof, "mnist_linf", "sgd", _bundle(prof), tmp_path, progress=False, log=lambda *_: None)
    path = tmp_path / "checkpoint.pt"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # truncated, as by a full disk
    with pytest.raises(checkpoint.CheckpointError, match="corrupted or truncated"):
        load_model(path)
    with pytest.raises(checkpoint.CheckpointError, match="corrupted or truncated"):
        fit(prof, "mnist_linf", "sgd", _bundle(prof), tmp_path, progress=False, log=lambda *_: None)


def test_nan_loss_stops_with_epoch_and_batch(smoke_profile_path, tmp_path):
    raw = yaml.safe_load(Path(smoke_profile_path).read_text())
    raw["experiments"]["mnist_linf"]["train"]["optimizer"] = {"name": "sgd", "lr": 1e9, "momentum": 0.0}
    path = tmp_path / "nan.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    prof = load_profile(path)
    with pytest.raises(TrainingError, match=r"loss is (nan|inf) at epoch \d+, batch \d+ of \d+"):
        fit(prof, "mnist_linf", "sgd", _bundle(prof), tmp_path / "run", progress=False, log=lambda *_: None)


def test_bf16_training_on_cpu_learns_and_is_recorded(smoke_profile_path, tmp_path, monkeypatch):
    """amp: bf16 autocasts ATENT's steps on the CPU too (the quick profile's setting); run.json records it, the
    model still learns, and a CPU without native bf16 gets a warning that names the setting."""
    from atentlib import train as train_mod

    raw = yaml.safe_load(Path(smoke_profile_path).read_text())
    raw["experiments"]["mnist_linf"]["train"]["amp"] = "bf16"
    path = tmp_path / "bf16.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    prof = load_profile(path)
    monkeypatch.setattr(train_mod, "_cpu_has_bf16", lambda: False)
    said: list[str] = []
    fit(prof, "mnist_linf", "atent_linf", _bundle(prof), tmp_path / "run", progress=False, log=said.append)
    assert any('experiments.mnist_linf.train.amp: "off"' in s for s in said), said
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["amp"] == "torch.bfloat16"
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["val_natural"].iloc[-1] > 30
    model, _ = load_model(tmp_path / "run" / "checkpoint.pt")
    assert all(p.dtype == torch.float32 for p in model.parameters())   # autocast: the weights stay float32


def _train_cmd(profile_path, tmp_path):
    return [sys.executable, "-m", "atentlib", "train", "--profile", str(profile_path), "--experiment",
            "mnist_linf", "--defense", "atent_linf", "--no-progress"]


def test_sigkill_then_resume_gives_the_same_metrics(smoke_profile_path, tmp_path):
    raw = yaml.safe_load(Path(smoke_profile_path).read_text())
    raw["experiments"]["mnist_linf"]["train"]["epochs"] = 4
    raw["data"]["mnist"]["n_train"] = 300
    prof_path = tmp_path / "resume.yaml"
    prof_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run_dirs = {}
    for name in ("straight", "killed"):
        cwd = tmp_path / name
        cwd.mkdir()
        run_dirs[name] = cwd / "runs" / "smoke" / "mnist_linf" / "atent_linf"
    subprocess.run(_train_cmd(prof_path, tmp_path), cwd=tmp_path / "straight", env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen(_train_cmd(prof_path, tmp_path), cwd=tmp_path / "killed", env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run_dirs["killed"] / "checkpoint.pt.sha256"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    assert proc.poll() is None, "the run finished before it could be killed; make the test data larger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = len(pd.read_csv(run_dirs["killed"] / "metrics.csv"))
    assert killed_after < 4
    out = subprocess.run(_train_cmd(prof_path, tmp_path), cwd=tmp_path / "killed", env=env, check=True,
                         capture_output=True, text=True)
    assert "resuming" in out.stdout
    a = pd.read_csv(run_dirs["straight"] / "metrics.csv").drop(columns="seconds")
    b = pd.read_csv(run_dirs["killed"] / "metrics.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    sa = checkpoint.load(run_dirs["straight"] / "checkpoint.pt")["model"]
    sb = checkpoint.load(run_dirs["killed"] / "checkpoint.pt")["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cli_attack_evaluates_any_checkpoint(smoke_runs, smoke_profile_path, tmp_path):
    ckpt = smoke_runs / "smoke" / "mnist_linf" / "pgd_at" / "best.pt"
    out = tmp_path / "best.eval.json"
    res = subprocess.run([sys.executable, "-m", "atentlib", "attack", str(ckpt), "--profile", str(smoke_profile_path),
                          "--out", str(out), "--no-progress"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    import json

    got = json.loads(out.read_text())
    assert set(got["attacks"]) == {"pgd20", "pgd40", "cw"}
    assert got["suite"] == "evaluation" and got["checkpoint"] == str(ckpt)
    # the same checkpoint, suite and seed as the evaluate stage's "best" entry: the same numbers
    ev = json.loads((ckpt.parent / "eval.json").read_text())["checkpoints"]["best"]
    assert got["epoch"] == ev["epoch"] and got["natural"] == ev["natural"]
    assert {k: a["accuracy"] for k, a in got["attacks"].items()} == {k: a["accuracy"] for k, a in ev["attacks"].items()}


def test_best_checkpoint_of_the_last_epoch_is_not_attacked_twice(smoke_profile_path, smoke_runs, tmp_path):
    """evaluate_run copies the results of a checkpoint saved at the same epoch, and attacks one saved earlier."""
    import json
    import shutil

    from atentlib.evaluate import evaluate_run

    prof = load_profile(smoke_profile_path)
    bundle = _bundle(prof)
    run = tmp_path / "run"
    shutil.copytree(smoke_runs / "smoke" / "mnist_linf" / "pgd_at", run)
    cfg = prof.experiments["mnist_linf"].evaluation
    last = checkpoint.load(run / "checkpoint.pt")
    checkpoint.save({**last, "selected": "best robust monitor accuracy"}, run / "best.pt")  # best == last epoch
    res = evaluate_run(run, bundle.test, cfg, torch.device("cpu"), bundle.info, progress=False)["checkpoints"]
    assert res["best"]["same_as"] == "last" and res["best"]["attacks"] == res["last"]["attacks"]
    assert json.loads((run / "eval.json").read_text())["checkpoints"]["best"]["same_as"] == "last"
    checkpoint.save({**last, "epoch": last["epoch"] - 1}, run / "best.pt")  # an earlier epoch: attacked again
    res = evaluate_run(run, bundle.test, cfg, torch.device("cpu"), bundle.info, progress=False)["checkpoints"]
    assert "same_as" not in res["best"] and res["best"]["epoch"] == res["last"]["epoch"] - 1


def test_train_and_evaluate_finds_a_finished_run_and_does_not_attack_it_again(smoke_profile_path, smoke_runs,
                                                                               tmp_path):
    """The CIFAR notebooks' helper: a finished run with a fresh eval.json is left as it is."""
    import shutil

    from atentlib import optional_data

    prof = load_profile(smoke_profile_path)
    runs = tmp_path / "runs"
    src = smoke_runs / "smoke" / "mnist_linf" / "pgd_at"
    shutil.copytree(src, runs / "smoke" / "mnist_linf" / "pgd_at")
    before = {f: (runs / "smoke" / "mnist_linf" / "pgd_at" / f).stat().st_mtime_ns for f in ("checkpoint.pt", "eval.json")}
    out = optional_data.train_and_evaluate(prof, "mnist_linf", "pgd_at", _bundle(prof), runs, log=lambda *_: None)
    assert {f: (out / f).stat().st_mtime_ns for f in before} == before
    (out / "eval.json").unlink()   # a missing evaluation is made again
    optional_data.train_and_evaluate(prof, "mnist_linf", "pgd_at", _bundle(prof), runs, log=lambda *_: None)
    assert json.loads((out / "eval.json").read_text())["checkpoints"]["last"]["epoch"] == 2


def test_missing_data_names_the_folder_and_how_to_fill_it(smoke_profile_path):
    from atentlib import optional_data

    prof = load_profile(smoke_profile_path)
    msg = optional_data.missing_data(prof, "cifar10")
    assert "cifar10: the real files are not in" in msg and "data.cifar10.root" in msg and "download=True" in msg
    assert optional_data.missing_data(prof, "mnist") is None


def test_metrics_csv_reads_back_what_was_written(tmp_path):
    """collect() puts these rows in results/<profile>/<experiment>.json: integers stay integers (epoch), floats
    floats, and text (a learning-rate schedule's name) text."""
    from atentlib.train import read_metrics_csv, write_metrics_csv

    rows = [{"epoch": 1, "lr": 0.001, "train_loss": 2.5, "note": "warm-up"},
            {"epoch": 2, "lr": 1e-05, "train_loss": 0.125, "note": "decay"}]
    write_metrics_csv(rows, tmp_path / "metrics.csv")
    back = read_metrics_csv(tmp_path / "metrics.csv")
    assert back == rows
    assert [type(v) for v in back[0].values()] == [int, float, float, str]
