"""The engine's options on tiny data: early stopping stops and says why, init_from loads verified weights,
crop+flip augmentation is shape- and range-preserving and exactly reproducible (also across a resume), amp
resolves to float32 on the CPU, the NaN check still names the epoch and batch, and the new options leave the
fingerprints of existing runs unchanged."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from atentlib import augment, checkpoint, distributed, train
from atentlib.config import TrainConfig, load_profile
from atentlib.train import RunSpec, TrainingError, fit, resolve_amp

from .conftest import small_smoke_profile

QUIET = {"progress": False, "log": lambda *_: None}


def _weights(path):
    return checkpoint.load(path)["model"]


# ----------------------------------------------------------------------------- early stopping
def test_early_stop_reason_counts_epochs_since_the_first_best():
    hist = [{"val_robust": r} for r in (10.0, 20.0, 20.0, 15.0)]
    assert train.early_stop_reason(hist, None) is None
    assert train.early_stop_reason(hist, 3) is None
    reason = train.early_stop_reason(hist, 2)
    assert "not improved for 2 epochs" in reason and "at epoch 2" in reason
    assert train.early_stop_reason([{"train_loss": 1.0}], 1) is None  # no monitor, no early stopping


def test_early_stopping_stops_records_why_and_resumes_consistently(smoke_profile_path, tmp_path, monkeypatch):
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, epochs=7, early_stopping_patience=2)
    robust = iter([10.0, 30.0, 20.0, 25.0, 50.0, 60.0, 70.0])  # best at epoch 2, then two epochs without gain
    def from_validation(split):  # the monitor's sample is drawn from the validation digits
        return bool((bundle.val.x == split.x[0]).flatten(1).all(1).any())

    monkeypatch.setattr(train, "_monitor", lambda model, split, *a: (90.0, next(robust)) if from_validation(split)
                        else (95.0, 1.0))
    out = tmp_path / "run"
    hist = fit(prof, "mnist_linf", "sgd", bundle, out, **QUIET)
    assert [h["val_robust"] for h in hist] == [10.0, 30.0, 20.0, 25.0]
    run = json.loads((out / "run.json").read_text())
    assert run["stopped"]["reason"] == "early_stopping" and run["stopped"]["epochs_trained"] == 4
    assert run["stopped"]["best_epoch"] == 2 and "patience 2" in run["stopped"]["detail"]
    assert checkpoint.load(out / "best.pt")["epoch"] + 1 == 2
    assert len(pd.read_csv(out / "metrics.csv")) == 4
    # running it again trains nothing more; a larger patience is not a new run: it resumes and goes on
    assert len(fit(prof, "mnist_linf", "sgd", bundle, out, **QUIET)) == 4
    prof5, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="p5", epochs=5, early_stopping_patience=3)
    hist = fit(prof5, "mnist_linf", "sgd", bundle, out, **QUIET)
    assert len(hist) == 5 and hist[-1]["val_robust"] == 50.0
    run = json.loads((out / "run.json").read_text())
    assert run["stopped"]["reason"] == "epochs_completed" and run["stopped"]["best_epoch"] == 5


def test_early_stopping_needs_the_monitor():
    with pytest.raises(ValueError, match="early_stopping_patience needs the monitor"):
        TrainConfig(early_stopping_patience=3, monitor_examples=0)


# ----------------------------------------------------------------------------- init_from
def test_init_from_loads_the_weights_and_refuses_a_damaged_checkpoint(smoke_profile_path, tmp_path):
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, epochs=1, monitor_examples=0)
    src = tmp_path / "src"
    fit(prof, "mnist_linf", "sgd", bundle, src, **QUIET)
    torch.manual_seed(0)  # the seed-0 initialisation every run starts from without init_from
    init = train.models.build("smallcnn", num_classes=10).state_dict()
    trained = _weights(src / "checkpoint.pt")
    assert max((trained[k] - init[k]).abs().max().item() for k in init) > 1e-3

    tiny_lr = {"name": "sgd", "lr": 1e-12, "momentum": 0.0}
    ft_prof, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="ft", epochs=1, monitor_examples=0, optimizer=tiny_lr,
                          init_from=str(src / "checkpoint.pt"))
    fit(ft_prof, "mnist_linf", "sgd", bundle, tmp_path / "ft", **QUIET)
    tuned = _weights(tmp_path / "ft" / "checkpoint.pt")
    assert all(torch.allclose(tuned[k].float(), trained[k].float(), atol=1e-6) for k in trained)
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["init_from"]["sha256"] == (src / "checkpoint.pt.sha256").read_text().strip()
    assert run["init_from"]["epoch"] == 1 and run["init_from"]["spec"]["defense"] == "sgd"
    assert checkpoint.load(tmp_path / "ft" / "checkpoint.pt")["init_from"]["path"] == str(src / "checkpoint.pt")
    opt = checkpoint.load(tmp_path / "ft" / "checkpoint.pt")["optimizer"]  # fresh SGD, not the source's Adam
    assert opt["param_groups"][0]["lr"] == 1e-12 and not any("exp_avg" in st for st in opt["state"].values())

    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(src / "checkpoint.pt", bad / "checkpoint.pt")
    shutil.copy(src / "checkpoint.pt.sha256", bad / "checkpoint.pt.sha256")
    raw = (bad / "checkpoint.pt").read_bytes()
    (bad / "checkpoint.pt").write_bytes(raw[: len(raw) // 2])
    bad_prof, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="bad", epochs=1, monitor_examples=0,
                           init_from=str(bad / "checkpoint.pt"))
    with pytest.raises(checkpoint.CheckpointError, match="corrupted or truncated"):
        fit(bad_prof, "mnist_linf", "sgd", bundle, tmp_path / "ft_bad", **QUIET)
    assert not (tmp_path / "ft_bad" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- augmentation
def _reference_crop_flip(x, seed):
    """crop_flip written one image at a time from the same draws (offsets, then flips)."""
    torch.manual_seed(seed)
    offsets = torch.randint(0, 9, (len(x), 2))
    flips = torch.rand(len(x)) < 0.5
    padded = F.pad(x, (4, 4, 4, 4))
    out = torch.stack([padded[i, :, r:r + x.shape[2], c:c + x.shape[3]] for i, (r, c) in enumerate(offsets.tolist())])
    return torch.where(flips[:, None, None, None], out.flip(3), out)


def test_crop_flip_keeps_shape_and_range_and_is_exactly_reproducible():
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert augment.apply("none", x) is x
    torch.manual_seed(5)
    a = augment.apply("crop_flip", x)
    torch.manual_seed(5)
    b = augment.apply("crop_flip", x)
    assert a.shape == x.shape and a.dtype == x.dtype and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert torch.equal(a, _reference_crop_flip(x, 5))
    torch.manual_seed(6)
    assert not torch.equal(a, augment.apply("crop_flip", x))
    assert augment.apply("crop_flip", x.contiguous(memory_format=torch.channels_last)).is_contiguous(
        memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="allowed none, crop_flip"):
        augment.apply("mixup", x)


def test_augmented_run_resumes_to_the_same_weights(smoke_profile_path, tmp_path):
    prof2, bundle = small_smoke_profile(smoke_profile_path, tmp_path, name="a2", epochs=2, augment="crop_flip")
    prof1, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="a1", epochs=1, augment="crop_flip")
    straight = fit(prof2, "mnist_linf", "sgd", bundle, tmp_path / "straight", **QUIET)
    fit(prof1, "mnist_linf", "sgd", bundle, tmp_path / "resumed", **QUIET)
    resumed = fit(prof2, "mnist_linf", "sgd", bundle, tmp_path / "resumed", **QUIET)
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert drop(straight) == drop(resumed)
    a, b = _weights(tmp_path / "straight" / "checkpoint.pt"), _weights(tmp_path / "resumed" / "checkpoint.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain_prof, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="plain", epochs=2)
    fit(plain_prof, "mnist_linf", "sgd", bundle, tmp_path / "plain", **QUIET)
    plain = _weights(tmp_path / "plain" / "checkpoint.pt")
    assert any(not torch.equal(a[k], plain[k]) for k in a)  # the augmentation did something


# ----------------------------------------------------------------------------- amp, NaN check, fingerprints
def test_amp_defaults_to_float32_and_auto_is_bf16_on_cuda_only(smoke_profile_path, tmp_path):
    assert resolve_amp("auto", torch.device("cpu")) is None
    assert resolve_amp("off", torch.device("cuda")) is None
    assert resolve_amp("auto", torch.device("cuda")) is torch.bfloat16
    assert resolve_amp("bf16", torch.device("cpu")) is torch.bfloat16
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, epochs=1, monitor_examples=0)
    fit(prof, "mnist_linf", "sgd", bundle, tmp_path / "run", **QUIET)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["amp"] == "torch.float32" and run["train_config"]["amp"] == "off" and run["world_size"] == 1
    assert TrainConfig().amp == "off"   # float32 unless a profile asks for bf16, on CUDA too


def test_nonfinite_watch_names_the_first_bad_batch_and_the_range():
    watch = train.NonFiniteWatch(10, torch.device("cpu"))
    watch.update(torch.tensor(1.0), 0)
    watch.check(distributed.Context(), 0, 1, "w")  # finite so far: no error
    watch.update(torch.tensor(float("nan")), 1)
    watch.update(torch.tensor(float("inf")), 2)
    with pytest.raises(TrainingError, match=r"w: loss is nan at epoch 3, batch 2 of 10 \(.*batches 2-3\)"):
        watch.check(distributed.Context(), 2, 3, "w")


@pytest.mark.parametrize("every", [1, 3])
def test_nan_loss_still_stops_with_epoch_and_batch(smoke_profile_path, tmp_path, every):
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, optimizer={"name": "sgd", "lr": 1e9, "momentum": 0.0},
                            nan_check_every=every)
    with pytest.raises(TrainingError, match=r"loss is (nan|inf) at epoch \d+, batch \d+ of \d+"):
        fit(prof, "mnist_linf", "sgd", bundle, tmp_path / "run", **QUIET)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_fingerprint_ignores_evaluation_and_other_defenses():
    """Adding an attack, an audit or another defense to an experiment must not restart its finished runs."""
    exp = load_profile("quick").experiment("mnist_linf")
    before = RunSpec("quick", "mnist_linf", "atent_linf", exp).fingerprint()
    raw = exp.model_dump(mode="json")
    raw["evaluation"]["attacks"] = raw["evaluation"]["attacks"][:1]
    raw["audit"] = None
    raw["audit_defenses"] = []
    raw["defenses"]["trades_new"] = {"kind": "trades"}
    raw["defenses"]["pgd_at"]["steps"] = 3
    changed = type(exp).model_validate(raw)
    assert RunSpec("quick", "mnist_linf", "atent_linf", changed).fingerprint() == before
    raw["defenses"]["atent_linf"]["K"] = 3
    assert RunSpec("quick", "mnist_linf", "atent_linf", type(exp).model_validate(raw)).fingerprint() != before


def test_fingerprint_follows_what_changes_results(smoke_profile_path, tmp_path):
    def fp(**kw):
        prof, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="fp", **kw)
        return RunSpec(prof.profile, "mnist_linf", "sgd", prof.experiment("mnist_linf")).fingerprint()

    base = fp()
    for same in ({"compile": True}, {"early_stopping_patience": 4}, {"nan_check_every": 1},
                 {"channels_last": False}, {"cudnn_benchmark": False}, {"epochs": 9}):
        assert fp(**same) == base, same
    prof, _ = small_smoke_profile(smoke_profile_path, tmp_path, name="fp")
    exp = prof.experiment("mnist_linf")
    audited = exp.model_copy(update={"audit": exp.evaluation, "audit_defenses": ["sgd"]})
    assert RunSpec(prof.profile, "mnist_linf", "sgd", audited).fingerprint() == base  # evaluation-only sections
    for other in ({"augment": "crop_flip"}, {"amp": "bf16"}, {"init_from": "x.pt"}, {"seed": 1}):
        assert fp(**other) != base, other
