"""ATENT samplers: samples stay in the ball and [0, 1]; the accumulated weight-gradient equals the gradient of
mu computed the naive way (one graph per iterate); the weights of mu follow the recurrence."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atentlib.config import AtentL2Defense, AtentLinfDefense
from atentlib.samplers import AtentL2, AtentLinf, mu_weights


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 16), nn.Tanh(), nn.Linear(16, 3))


def batch(seed=1, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def linf_cfg(**kw):
    return AtentLinfDefense(kind="atent_linf", **{"K": 5, "gamma": 4.0, "step_size": 0.05, **kw})


@pytest.mark.parametrize("projection", ["final", "every_step"])
@pytest.mark.parametrize("start", ["corner", "normal", "uniform"])
def test_linf_samples_stay_in_ball_and_box(projection, start):
    model = tiny_model()
    x, y = batch()
    x[0] = 0.0  # pixels on the box's faces must stay inside it
    x[1] = 1.0
    sampler = AtentLinf(linf_cfg(projection=projection, start=start, noise=0.5, step_direction="raw"))
    x_adv = sampler.sample(model, x, y)
    assert (x_adv - x).abs().max() <= 1 / 4.0 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_warmup_scales_the_radius():
    sampler = AtentLinf(linf_cfg())
    sampler.radius_scale = 0.5
    x, y = batch()
    x_adv = sampler.sample(tiny_model(), x, y)
    assert (x_adv - x).abs().max() <= 0.125 + 1e-6


def test_l2_projection_and_box():
    cfg = AtentL2Defense(kind="atent_l2", K=6, gamma=0.05, step_size=0.5, radius=0.7, noise=0.1)
    x, y = batch()
    x_adv = AtentL2(cfg).sample(tiny_model(), x, y)
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.7 + 1e-5
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_mu_weights_follow_the_recurrence():
    K, alpha = 7, 0.9
    losses = torch.rand(K + 1)
    mu = torch.zeros(())
    for k in range(1, K + 1):
        mu = (1 - alpha) * mu + alpha * losses[k]
    w = torch.tensor(mu_weights(K, alpha))
    assert torch.allclose((w * losses).sum(), mu)
    assert mu_weights(0, alpha) == [1.0]


def _naive_grad(model, sampler, x, y, seed):
    """Record the iterates of a sample() run, then take grad_w of mu = sum_k c_k CE(f(x_k)) on one graph."""
    iterates = []
    orig_step = sampler.step

    def recording_step(x_k, x0, grad, is_last):
        iterates.append(x_k.detach().clone())
        return orig_step(x_k, x0, grad, is_last)

    sampler.step = recording_step
    torch.manual_seed(seed)
    x_last = sampler.sample(model, x, y)
    sampler.step = orig_step
    iterates = iterates + [x_last]
    weights = mu_weights(sampler.cfg.K, sampler.cfg.alpha)
    model.zero_grad()
    mu = sum(c * F.cross_entropy(model(xk), y) for c, xk in zip(weights, iterates) if c > 0)
    mu.backward()
    return [p.grad.clone() for p in model.parameters()], mu.item()


@pytest.mark.parametrize("cfg", [
    linf_cfg(mu_grad_cutoff=0.0, model_mode="eval"),
    linf_cfg(mu_grad_cutoff=0.0, model_mode="eval", step_direction="raw", projection="clip_last_step"),
    AtentL2Defense(kind="atent_l2", K=4, gamma=0.1, step_size=0.1, mu_grad_cutoff=0.0, model_mode="eval"),
], ids=["linf", "linf-literal", "l2"])
def test_accumulated_gradient_equals_naive_gradient_of_mu(cfg):
    model = tiny_model()
    x, y = batch()
    sampler = AtentLinf(cfg) if cfg.kind == "atent_linf" else AtentL2(cfg, eps=1.0)
    expected, mu_expected = _naive_grad(model, sampler, x, y, seed=5)
    model.zero_grad()
    torch.manual_seed(5)
    result = sampler.accumulate(model, x, y)
    for p, g in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, g, atol=1e-6, rtol=1e-5)
    assert abs(float(result.mu) - mu_expected) < 1e-5


def test_cutoff_drops_less_than_its_share_of_the_gradient():
    """With alpha = 0.9 the default cutoff keeps the last two iterates: the gradient moves by < 2%."""
    model = tiny_model()
    x, y = batch(n=32)
    exact = AtentLinf(linf_cfg(K=10, mu_grad_cutoff=0.0, model_mode="eval"))
    cut = AtentLinf(linf_cfg(K=10, mu_grad_cutoff=0.02, model_mode="eval"))
    grads = []
    for s in (exact, cut):
        model.zero_grad()
        torch.manual_seed(0)
        s.accumulate(model, x, y)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    rel = (grads[0] - grads[1]).norm() / grads[0].norm()
    assert rel < 0.02


def test_sampler_restores_model_mode():
    model = tiny_model()
    model.train()
    x, y = batch()
    AtentLinf(linf_cfg(model_mode="eval")).sample(model, x, y)
    assert model.training
    model.eval()
    AtentLinf(linf_cfg(model_mode="train")).sample(model, x, y)
    assert not model.training


def _iterates(sampler, model, x, y):
    """Every iterate x^1..x^K the chain produces (the outputs of its steps), before the loop's box clamp."""
    seen = []
    orig_step = sampler.step

    def recording_step(x_k, x0, grad, is_last):
        out = orig_step(x_k, x0, grad, is_last)
        seen.append(out.detach().clone())
        return out

    sampler.step = recording_step
    sampler.sample(model, x, y)
    sampler.step = orig_step
    return seen


def test_l2_default_never_leaves_the_threat_ball():
    """The default l2 reading (the authors' code) projects every iterate onto the eps-ball: no sampled delta, at any
    step, exceeds eps, even with a long path (K eta' = 10 eps) and loud noise."""
    eps = 0.5
    x, y = batch(n=16)
    sampler = AtentL2(AtentL2Defense(kind="atent_l2", K=10, step_size=0.5, gamma=0.05, noise=0.2), eps=eps)
    start = sampler.start(x)
    assert (start - x).flatten(1).norm(dim=1).max() <= eps + 1e-5
    for x_k in _iterates(sampler, tiny_model(), x, y):
        assert (x_k - x).flatten(1).norm(dim=1).max() <= eps + 1e-5


def test_l2_literal_reading_leaves_the_ball():
    """Algorithm 1 read literally has no projection: the same long path ends well beyond eps, which is why the
    authors' reading is the default."""
    eps = 0.5
    x, y = batch(n=16)
    cfg = AtentL2Defense(kind="atent_l2", K=10, step_size=0.5, gamma=0.05, noise=0.0, projection="none",
                         pullback="scaled", start="normal")
    last = _iterates(AtentL2(cfg, eps=eps), tiny_model(), x, y)[-1]
    assert (last - x).flatten(1).norm(dim=1).median() > 2 * eps


@pytest.mark.parametrize("pullback, factor", [("unscaled", lambda eta, g: 1 - g), ("scaled", lambda eta, g: 1 - eta * g)])
def test_l2_pullback_contracts_by_its_closed_form(pullback, factor):
    """With a zero input-gradient and no noise, one step maps x' - x to (1 - gamma)(x' - x) (authors' code) or
    (1 - eta' gamma)(x' - x) (Algorithm 1 as written)."""
    eta, gamma = 0.5, 0.3
    cfg = AtentL2Defense(kind="atent_l2", K=1, step_size=eta, gamma=gamma, noise=0.0, pullback=pullback,
                         projection="none")
    sampler = AtentL2(cfg, eps=1.0)
    x = torch.full((4, 2, 4, 4), 0.5)
    x_k = x + 0.1 * torch.randn_like(x)
    out = sampler.step(x_k, x, torch.zeros_like(x), is_last=True)
    assert torch.allclose(out - x, factor(eta, gamma) * (x_k - x), atol=1e-6)


@pytest.mark.parametrize("start", ["normal", "uniform"])
def test_linf_normal_and_uniform_starts_are_at_the_balls_scale(start):
    """The paper puts the samples about 1/gamma from x: the normal start's sd (uniform: half-width) is 1/gamma."""
    gamma = 4.0
    sampler = AtentLinf(linf_cfg(gamma=gamma, start=start))
    x = torch.full((64, 1, 16, 16), 0.5)
    delta = sampler.start(x) - x
    spread = delta.std() if start == "normal" else delta.abs().max()
    assert spread == pytest.approx(1 / gamma, rel=0.05)
