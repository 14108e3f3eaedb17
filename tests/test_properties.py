"""Property-based tests (hypothesis): for random small shapes, radii, norms, step sizes and seeds,

* every attack (PGD linf/l2, FGSM, CW-linf, the ATENT attack) and both ATENT samplers return points inside their
  ball (where one applies) and inside the pixel box [0, 1]; the ATENT attack's own chain (start and steps, seen
  before the attack's closing projection) keeps its ball, and the linf sampler's mu is sum_k c_k CE(x^k) on its
  chain rerun here;
* the model's train/eval mode of every submodule is what it was before, including submodules whose mode
  differs from their parent's (dropout in eval under a parent in train, and the reverse);
* invalid numbers in a profile (negative eps, K < 0, lr <= 0, alpha outside (0, 1], ...) raise ProfileError
  naming the file and the key.

Tiny models (Flatten + Linear, with BatchNorm1d and Dropout to exercise modes) keep the whole file fast.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from atentlib.attacks import atent_attack, cw_linf, fgsm, pgd
from atentlib.config import PARAMS_DIR, AtentL2Defense, AtentLinfDefense, ProfileError, load_profile
from atentlib.samplers import AtentL2, AtentLinf, mu_weights
from atentlib.threat import Ball, model_mode, per_sample_norm

SETTINGS = settings(max_examples=25, deadline=None)
TOL = 1e-5


# ----------------------------------------------------------------------------- strategies
@st.composite
def problems(draw):
    """A tiny model and a batch: x [B, C, H, W] in [0, 1] (some pixels on the box's faces), labels y [B]."""
    b = draw(st.integers(2, 5))  # >= 2: BatchNorm1d in train mode needs two samples
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    classes = draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g)
    faces = torch.rand(b, c, h, w, generator=g)
    x = torch.where(faces < 0.15, torch.zeros_like(x), torch.where(faces > 0.85, torch.ones_like(x), x))
    y = torch.randint(0, classes, (b,), generator=g)
    torch.manual_seed(seed)  # the model's init and the attacks' random starts and noise
    model = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(8, classes))
    return model, x, y


eps_st = st.floats(0.0, 0.6, allow_nan=False)
pos_eps_st = st.floats(1e-3, 0.6, allow_nan=False)
step_st = st.floats(1e-3, 0.5, allow_nan=False)
steps_st = st.integers(1, 4)
norm_st = st.sampled_from(["linf", "l2"])


def assert_in_ball(x_adv: torch.Tensor, x: torch.Tensor, norm: str, eps: float) -> None:
    assert x_adv.shape == x.shape
    assert torch.isfinite(x_adv).all()
    assert x_adv.min().item() >= -TOL and x_adv.max().item() <= 1 + TOL, "outside [0, 1]"
    dist = per_sample_norm(x_adv - x, norm).max().item()
    assert dist <= eps + TOL, f"{norm} distance {dist} > eps {eps}"


def assert_in_box(x_adv: torch.Tensor, x: torch.Tensor) -> None:
    assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
    assert x_adv.min().item() >= -TOL and x_adv.max().item() <= 1 + TOL, "outside [0, 1]"


@contextlib.contextmanager
def recording_chain(cls):
    """Record every start and step of `cls`'s chains while inside: ("start", x, x^0) and
    ("step", x^k, is_last, x^{k+1} before the box clamp)."""
    calls = []
    start, step = cls.start, cls.step

    def rec_start(self, x):
        out = start(self, x)
        calls.append(("start", x, out))
        return out

    def rec_step(self, x_k, x, grad, is_last):
        out = step(self, x_k, x, grad, is_last)
        calls.append(("step", x_k, is_last, out))
        return out

    cls.start, cls.step = rec_start, rec_step
    try:
        yield calls
    finally:
        cls.start, cls.step = start, step


# ----------------------------------------------------------------------------- attacks stay in the ball
@SETTINGS
@given(problems(), norm_st, eps_st, step_st, steps_st, st.integers(1, 2), st.booleans(), st.booleans())
def test_pgd_in_ball_and_box(problem, norm, eps, step_size, steps, restarts, random_start, train_mode):
    model, x, y = problem
    x_adv = pgd(model, x, y, Ball(norm, eps), steps=steps, step_size=step_size, restarts=restarts,
                random_start=random_start, train_mode=train_mode)
    assert_in_ball(x_adv, x, norm, eps)


@SETTINGS
@given(problems(), norm_st, eps_st)
def test_fgsm_in_ball_and_box(problem, norm, eps):
    model, x, y = problem
    assert_in_ball(fgsm(model, x, y, Ball(norm, eps)), x, norm, eps)


@SETTINGS
@given(problems(), eps_st, step_st, steps_st, st.integers(1, 2), st.booleans())
def test_cw_linf_in_ball_and_box(problem, eps, step_size, steps, restarts, random_start):
    model, x, y = problem
    x_adv = cw_linf(model, x, y, eps, steps=steps, step_size=step_size, restarts=restarts, random_start=random_start)
    assert_in_ball(x_adv, x, "linf", eps)


@SETTINGS
@given(problems(), eps_st, step_st, steps_st, st.floats(0.0, 1.0),
       st.sampled_from(["corner", "normal", "uniform"]), st.sampled_from(["final", "every_step", "clip_last_step"]),
       st.sampled_from(["sign", "raw"]))
def test_atent_attack_chain_keeps_its_own_ball(problem, eps, step_size, steps, noise, start, projection, direction):
    """atent_attack projects its result once more, so its output is in the ball whatever the chain does: look at
    the chain itself. A corner start is exactly eps from x; every_step keeps each iterate in the ball, final the
    last one, clip_last_step clips the last increment to eps; with final / every_step the attack's closing
    projection changes nothing."""
    model, x, y = problem
    with recording_chain(AtentLinf) as calls:
        x_adv = atent_attack(model, x, y, eps, steps=steps, step_size=step_size, noise=noise, start=start,
                             projection=projection, step_direction=direction)
    assert_in_ball(x_adv, x, "linf", eps)  # smoke: what the caller is promised
    if eps == 0:
        assert torch.equal(x_adv, x) and not calls
        return
    (_, x_in, x0), *step_calls = calls
    assert torch.equal(x_in, x) and len(step_calls) == steps
    if start == "corner":
        assert torch.allclose((x0 - x).abs(), torch.full_like(x, eps), atol=TOL)
    for i, (_, x_k, is_last, x_next) in enumerate(step_calls):
        assert is_last == (i + 1 == steps)
        if projection == "every_step" or (projection == "final" and is_last):
            assert per_sample_norm(x_next - x, "linf").max().item() <= eps + TOL
        if projection == "clip_last_step" and is_last:
            assert (x_next - x_k).abs().max().item() <= eps + TOL
    if projection in ("final", "every_step"):
        assert torch.allclose(x_adv, step_calls[-1][3].clamp(0, 1), atol=TOL)


# ----------------------------------------------------------------------------- samplers stay in the ball
@SETTINGS
@given(problems(), pos_eps_st, step_st, st.integers(0, 4), st.floats(0.0, 1.0), st.floats(0.0, 0.5),
       st.sampled_from(["corner", "normal", "uniform"]), st.sampled_from(["final", "every_step", "clip_last_step"]),
       st.sampled_from(["sign", "raw"]), st.sampled_from(["train", "eval"]), st.booleans())
def test_atent_linf_sampler(problem, radius, step_size, K, noise, start_scale, start, projection, direction, mode,
                            use_gamma):
    """final / every_step keep x^K in the ball of radius `radius` (or 1/gamma); clip_last_step only clips the
    K-th increment (the paper's P_gamma), so there only the box is guaranteed."""
    model, x, y = problem
    ball = {"gamma": 1.0 / radius} if use_gamma else {"radius": radius}
    cfg = AtentLinfDefense(kind="atent_linf", K=K, step_size=step_size, noise=noise, start=start,
                           start_scale=start_scale, projection=projection, step_direction=direction,
                           model_mode=mode, **ball)
    sampler = AtentLinf(cfg)
    x_adv = sampler.sample(model, x, y)
    rng = torch.get_rng_state()
    res = sampler.accumulate(model, x, y)
    for out in (x_adv, res.x_adv):
        if projection in ("final", "every_step") and K >= 1:
            assert_in_ball(out, x, "linf", radius * (1 + 1e-6))
        else:
            assert_in_box(out, x)
    # mu against sum_k c_k CE(x^k), the chain rerun here from the same random state (same starts, noise and
    # dropout masks: one forward per iterate, as accumulate does)
    torch.set_rng_state(rng)
    x_k, losses = sampler.start(x).clamp(0, 1), []
    with model_mode(model, mode == "train"), torch.enable_grad():
        for k in range(K + 1):
            x_k = x_k.detach().requires_grad_(k < K)
            losses.append(F.cross_entropy(model(x_k), y))
            if k < K:
                (g,) = torch.autograd.grad(losses[-1], x_k)
                x_k = sampler.step(x_k.detach(), x, g, is_last=k + 1 == K).clamp(0, 1)
    mu = sum(c * loss.item() for c, loss in zip(mu_weights(K, cfg.alpha), losses))
    assert torch.equal(res.x_adv, x_k.detach())
    assert math.isclose(res.mu.item(), mu, rel_tol=1e-5, abs_tol=1e-6), (res.mu.item(), mu)


@SETTINGS
@given(problems(), pos_eps_st, step_st, st.integers(0, 4), st.floats(1e-3, 5.0), st.floats(0.0, 1.0),
       st.floats(0.0, 0.5), st.sampled_from(["normalized", "raw"]), st.sampled_from(["train", "eval"]),
       st.booleans())
def test_atent_l2_sampler(problem, radius, step_size, K, gamma, noise, start_scale, direction, mode, project):
    """Projected every step, the chain stays in the l2 ball of `radius`; unprojected (as written) only the box
    holds."""
    model, x, y = problem
    cfg = AtentL2Defense(kind="atent_l2", K=K, gamma=gamma, step_size=step_size, noise=noise, start="normal",
                         start_scale=start_scale, step_direction=direction, model_mode=mode,
                         projection="every_step" if project else "none", radius=radius if project else None)
    x_adv = AtentL2(cfg).sample(model, x, y)
    if project and K >= 1:
        assert_in_ball(x_adv, x, "l2", radius)
    else:
        assert_in_box(x_adv, x)


def test_samplers_k0_stay_in_box():
    """K = 0 returns the (clamped) start: no step was taken, so only the box is promised."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 2])
    out = AtentLinf(AtentLinfDefense(kind="atent_linf", K=0, radius=0.5)).sample(model, x, y)
    assert_in_box(out, x)


# ----------------------------------------------------------------------------- modes are restored
ATTACKS = ["pgd_linf", "pgd_l2", "pgd_train_mode", "fgsm", "cw_linf", "atent_attack", "atent_linf_train",
           "atent_linf_eval", "atent_l2_train", "atent_l2_eval", "atent_linf_accumulate"]


def run_attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float) -> None:
    if name.startswith("pgd"):
        norm = "l2" if name == "pgd_l2" else "linf"
        pgd(model, x, y, Ball(norm, eps), steps=2, step_size=step, train_mode=name == "pgd_train_mode")
    elif name == "fgsm":
        fgsm(model, x, y, Ball("linf", eps))
    elif name == "cw_linf":
        cw_linf(model, x, y, eps, steps=2, step_size=step)
    elif name == "atent_attack":
        atent_attack(model, x, y, eps, steps=2, step_size=step)
    elif name.startswith("atent_linf"):
        mode = "eval" if name.endswith("eval") else "train"
        sampler = AtentLinf(AtentLinfDefense(kind="atent_linf", K=2, radius=eps, step_size=step, model_mode=mode))
        (sampler.accumulate if name.endswith("accumulate") else sampler.sample)(model, x, y)
    else:
        mode = "eval" if name.endswith("eval") else "train"
        AtentL2(AtentL2Defense(kind="atent_l2", K=2, step_size=step, radius=eps, model_mode=mode)).sample(model, x, y)


@SETTINGS
@given(problems(), st.sampled_from(ATTACKS), pos_eps_st, step_st, st.data())
def test_modes_restored(problem, name, eps, step, data):
    """Random per-submodule modes, so that children often disagree with their parent (dropout in eval under a
    parent in train, batch norm in train under a parent in eval); every one is put back as it was."""
    model, x, y = problem
    for m in model.modules():
        m.training = data.draw(st.booleans(), label=f"training[{type(m).__name__}]")
    before = [m.training for m in model.modules()]
    run_attack(name, model, x, y, eps, step)
    assert [m.training for m in model.modules()] == before


def test_modes_restored_fixed_case():
    """The case named in the brief, without randomness: parent in train, its dropout in eval."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, 3))
    model.train()
    model[3].eval()
    x, y = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 0])
    for name in ATTACKS:
        run_attack(name, model, x, y, 0.2, 0.05)
        assert model.training and model[2].training and not model[3].training, name


# ----------------------------------------------------------------------------- invalid profiles
QUICK = yaml.safe_load((PARAMS_DIR / "quick.yaml").read_text())


def _exp(raw):
    return raw["experiments"]["mnist_linf"]


def _set_threat_eps(raw, v):
    _exp(raw)["threat"]["eps"] = v


def _set_attack_eps(raw, v):
    _exp(raw)["evaluation"]["attacks"][0]["eps"] = v


def _set_attack_step(raw, v):
    _exp(raw)["evaluation"]["attacks"][0]["step_size"] = v


def _set_k(raw, v):
    _exp(raw)["defenses"]["atent_linf"]["K"] = v


def _set_lr(raw, v):
    _exp(raw)["train"]["optimizer"]["lr"] = v


def _set_override_lr(raw, v):
    _exp(raw)["defenses"]["sgd"]["train"]["optimizer"] = {"name": "adam", "lr": v}


def _set_alpha(raw, v):
    _exp(raw)["defenses"]["atent_linf"]["alpha"] = v


def _set_gamma(raw, v):
    _exp(raw)["defenses"]["atent_linf"]["gamma"] = v


def _set_sampler_step(raw, v):
    _exp(raw)["defenses"]["atent_linf"]["step_size"] = v


def _set_pgd_steps(raw, v):
    _exp(raw)["defenses"]["pgd_at"]["steps"] = v


nonpos = st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)
negative = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False)
# (setter, the key as the error must name it, invalid values)
INVALID = [
    (_set_threat_eps, "threat.eps", nonpos),
    (_set_attack_eps, "attacks.0.pgd.eps", negative),
    (_set_attack_step, "attacks.0.pgd.step_size", nonpos),
    (_set_k, "atent_linf.K", st.integers(max_value=-1)),
    (_set_lr, "optimizer.lr", nonpos),
    (_set_override_lr, "optimizer.lr", nonpos),
    (_set_alpha, "atent_linf.alpha", nonpos | st.floats(min_value=1.0, exclude_min=True, allow_nan=False)),
    (_set_gamma, "atent_linf.gamma", nonpos),
    (_set_sampler_step, "atent_linf.step_size", nonpos),
    (_set_pgd_steps, "pgd_at.steps", st.integers(max_value=0)),
]


@st.composite
def invalid_profiles(draw):
    setter, key, values = draw(st.sampled_from(INVALID))
    value = draw(values)
    raw = yaml.safe_load(yaml.safe_dump(QUICK))  # a deep copy
    setter(raw, value)
    return raw, key, value


@SETTINGS
@given(invalid_profiles())
def test_invalid_numbers_raise_profile_error_naming_the_key(case):
    raw, key, value = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        with pytest.raises(ProfileError) as err:
            load_profile(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"{key} = " in msg, msg
    assert key.rsplit(".", 1)[-1] in msg


def test_valid_quick_copy_loads():
    """The mutation harness itself is sound: the unmodified copy validates."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ok.yaml"
        path.write_text(yaml.safe_dump(QUICK, sort_keys=False))
        assert load_profile(path).profile == "quick"
