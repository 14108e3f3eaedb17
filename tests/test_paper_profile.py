"""The paper profile (meant for a GPU) can train: every (experiment, defense) it defines takes two optimiser steps
that move the weights by a sane amount, resolved and built exactly as the engine does (atentlib.train._fit and
train_epoch), on tiny SYNTHETIC batches (random pixels, labels made up): no data set is read. CPU, float32."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atentlib import augment, defenses, models
from atentlib.config import load_profile
from atentlib.threat import Ball
from atentlib.train import eps_scale, make_optimizer, use_channels_last

PROFILE = load_profile("paper")
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
NUM_CLASSES = 10
BATCH = 4
# WRN-34-10 (46M parameters) takes tens of seconds a case on a 2-core CPU: those cases are `slow`; every defense
# kind also trains on an MNIST model, un-marked (test_every_defense_kind_has_a_case_outside_slow checks it)
SLOW_MODELS = ("wrn34_10",)
# bounds of ||dw|| / ||w|| per step. Measured on this profile (float32): 6e-6 (fine-tuning at lr 1e-4) to 3e-2
# (SGD at lr 0.1 on ResNet-20); a lr of 1e-12 gives 0 or ~1e-13, Adam at lr 10 gives ~500
MIN_REL_STEP, MAX_REL_STEP = 1e-7, 0.5
# bounds of the first step's ||dw|| over that of a plain cross-entropy step with the same optimiser from the same
# weights on the same batch (before CIFAR's crop and flip). Measured: 0.12 (ACT at alpha 0.9, whose mimicry terms
# dominate) to 1.13; Entropy-SGD's literal outer gradient gamma (w - mu) at gamma 1e-3 gives 3e-4 (a model that
# barely trains at any lr)
MIN_CE_RATIO, MAX_CE_RATIO = 0.02, 20.0

CASES = [(e, d) for e, exp in PROFILE.experiments.items() for d in exp.defenses]


def synthetic_batch(dataset: str, n: int = BATCH, seed: int = 0):
    """SYNTHETIC inputs in [0, 1] of the data set's shape, made-up labels 0..n-1, dataset indices 0..n-1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *SHAPES[dataset], generator=g)
    return x, torch.arange(n) % NUM_CLASSES, torch.arange(n)


def engine_setup(experiment: str, defense_name: str):
    """Model, optimiser, defense and train config of one run, built as atentlib.train._fit builds them (CPU)."""
    exp = PROFILE.experiment(experiment)
    dcfg, tc = exp.defense(defense_name), exp.train_config(defense_name)
    torch.manual_seed(tc.seed)
    model = models.build(exp.model, num_classes=NUM_CLASSES)
    if use_channels_last("cpu", tc.channels_last):
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, tc)
    defense = defenses.build(dcfg, Ball(exp.threat.norm, exp.threat.eps),
                             defenses.DefenseContext(model_name=exp.model, num_classes=NUM_CLASSES,
                                                     optimizer=optimizer, device="cpu"))
    return exp, dcfg, tc, model, optimizer, defense


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad])


def engine_step(model, defense, optimizer, tc, x, y, idx, batch: int):
    """One batch of atentlib.train.train_epoch (float32: the engine's autocast is off on a CPU)."""
    xb = augment.apply(tc.augment, x)
    if use_channels_last("cpu", tc.channels_last):
        xb = xb.contiguous(memory_format=torch.channels_last)
    # the first batch after any eps warm-up: the defense at its full radius (every paper experiment has no warm-up)
    defense.set_eps_scale(eps_scale(tc, tc.eps_warmup_epochs, batch, 1))
    optimizer.zero_grad(set_to_none=True)
    out = defense.backward(model, xb, y, idx)
    if tc.grad_clip:
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], tc.grad_clip)
    optimizer.step()
    return out


def ce_step(model: nn.Module, tc, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The weights of a copy of `model` after one plain cross-entropy step of the run's optimiser config."""
    model = copy.deepcopy(model)
    optimizer = make_optimizer(model, tc)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    return flat(model)


def make_batch_correct(model: nn.Module, y: torch.Tensor) -> None:
    """Raise the classifier's bias of class y[0] so that every example labelled with it starts correctly
    classified: at a random initialisation none is, and MMA's AN-PGD and bisection would never run."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias[y[0]] += 10.0


def slow_case(experiment: str) -> bool:
    return PROFILE.experiment(experiment).model in SLOW_MODELS


def test_every_defense_kind_has_a_case_outside_slow():
    """CI runs -m 'not slow': a defense kind trained only in slow cases would go unchecked there."""
    fast = {PROFILE.experiment(e).defense(d).kind for e, d in CASES if not slow_case(e)}
    every = {PROFILE.experiment(e).defense(d).kind for e, d in CASES}
    assert every <= fast, f"kinds only in slow cases: {sorted(every - fast)}"


@pytest.mark.parametrize("experiment,defense_name", [
    pytest.param(e, d, marks=[pytest.mark.slow] if slow_case(e) else [], id=f"{e}-{d}") for e, d in CASES])
def test_every_paper_configuration_trains(experiment, defense_name):
    """Two engine steps of the run's own configuration: finite loss, each step moves the weights by a relative
    amount inside [MIN_REL_STEP, MAX_REL_STEP] (a lr that cannot train, or one that blows up, fails), and the
    first step is of the order of a plain cross-entropy step of the same optimiser (an objective whose gradient
    is scaled away fails). Fine-tuning runs start from random weights here: their checkpoint is a trained model."""
    exp, dcfg, tc, model, optimizer, defense = engine_setup(experiment, defense_name)
    x, y, idx = synthetic_batch(exp.dataset)
    if dcfg.kind == "mma":
        y = torch.full_like(y, 3)
        make_batch_correct(model, y)
    w_ce = ce_step(model, tc, x, y)
    model.train()
    for step in range(2):
        w0 = flat(model)
        out = engine_step(model, defense, optimizer, tc, x, y, idx, step)
        rel = ((flat(model) - w0).norm() / w0.norm()).item()
        assert math.isfinite(out.loss.item()), f"step {step + 1}: loss {out.loss.item()}"
        assert MIN_REL_STEP < rel < MAX_REL_STEP, f"step {step + 1}: ||dw|| / ||w|| = {rel:.3g}"
        if step == 0:
            ratio = ((flat(model) - w0).norm() / (w_ce - w0).norm()).item()
            assert MIN_CE_RATIO < ratio < MAX_CE_RATIO, f"step 1 is {ratio:.3g} x a cross-entropy step"
        if dcfg.kind == "mma":  # the margin path ran: the loss was taken away from the clean inputs
            assert out.x_train is not None and not torch.equal(out.x_train, x)


def step_size_ratio(experiment: str, **override) -> float:
    """||dw|| of one Entropy-SGD engine step over ||dw|| of one plain SGD step (same optimiser config, CE gradient)
    on the same SYNTHETIC batch from the same weights. `override`: fields of the profile's entropy_sgd changed."""
    exp, dcfg, tc, model, optimizer, _ = engine_setup(experiment, "entropy_sgd")
    esgd = defenses.build(dcfg.model_copy(update=override), Ball(exp.threat.norm, exp.threat.eps))
    x, y, idx = synthetic_batch(exp.dataset)
    w0, w_sgd = flat(model), ce_step(model, tc, x, y)
    model.train()
    engine_step(model, esgd, optimizer, tc, x, y, idx, 0)
    return ((flat(model) - w0).norm() / (w_sgd - w0).norm()).item()


@pytest.mark.parametrize("experiment", [e for e, d in CASES if d == "entropy_sgd"])
def test_entropy_sgd_outer_step_is_of_the_order_of_an_sgd_step(experiment):
    """The paper's Entropy-SGD (gamma 1e-3, lr 0.1) moves the weights as far as SGD does per step, within a factor
    of 20; the literal outer gradient gamma (w - mu) would move them ~1e-3 times as far (and must fail the band)."""
    ratio = step_size_ratio(experiment)
    assert 0.05 < ratio < 20, ratio
    assert step_size_ratio(experiment, outer_gradient="gamma") < 0.05
