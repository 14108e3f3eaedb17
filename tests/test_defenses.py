"""Tests for atentlib.defenses: each defense's loss against its formula computed by hand, the limits in which a
defense reduces to a simpler one, the modes attacks are crafted in, ATENT's gradient against autograd of mu, one
training step of every kind, and the training attacks staying inside their balls. Tiny models, CPU."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from pydantic import TypeAdapter, ValidationError
from torch import nn

from atentlib import defenses, models
from atentlib.config import (ActDefense, AtentL2Defense, AtentLinfDefense, DefenseConfig, EntropySgdDefense,
                             MartDefense, MmaDefense, PgdAtDefense, SgdDefense, TradesDefense)
from atentlib.defenses import DefenseContext
from atentlib.defenses.mart import mart_terms
from atentlib.defenses.mma import MMA
from atentlib.samplers import AtentL2, AtentLinf, build_sampler, mu_weights
from atentlib.threat import Ball, per_sample_norm

B, SHAPE = 8, (1, 6, 6)


def tiny_net(seed: int = 0, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.Tanh(), nn.Linear(16, classes))


def batch(seed: int = 1, n: int = B, shape=SHAPE, classes: int = 10):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y, torch.arange(n)


def grads_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def run_backward(defense, model, x, y, idx):
    model.zero_grad(set_to_none=True)
    return defense.backward(model, x, y, idx)


def kl_by_hand(logits_p, logits_q):
    """[B]: sum_k p_k (log p_k - log q_k)."""
    p, q = F.softmax(logits_p, 1), F.softmax(logits_q, 1)
    return (p * (p.log() - q.log())).sum(1)


# ----------------------------------------------------------------------------- TRADES
def test_trades_with_beta_zero_is_plain_cross_entropy():
    x, y, idx = batch()
    model = tiny_net()
    trades = defenses.build(TradesDefense(kind="trades", beta=0.0, steps=3, step_size=0.02), Ball("linf", 0.1))
    out = run_backward(trades, model, x, y, idx)
    g_trades = grads_of(model)
    ref = run_backward(defenses.build(SgdDefense(kind="sgd"), Ball("linf", 0.1)), model, x, y, idx)
    assert torch.allclose(out.loss, ref.loss)
    for a, b in zip(g_trades, grads_of(model)):
        assert torch.allclose(a, b, atol=1e-7)


def test_trades_loss_is_ce_plus_beta_batchmean_kl():
    x, y, idx = batch()
    model = tiny_net()
    out = run_backward(defenses.build(TradesDefense(kind="trades", beta=6.0, steps=3), Ball("l2", 0.5)),
                       model, x, y, idx)
    with torch.no_grad():
        expected = F.cross_entropy(model(x), y) + 6.0 * kl_by_hand(model(x), model(out.x_train)).mean()
    assert torch.allclose(out.loss, expected, atol=1e-6)
    assert not torch.equal(out.x_train, x)


# ----------------------------------------------------------------------------- MART
def test_mart_weight_is_one_minus_true_probability_and_loss_matches():
    torch.manual_seed(0)
    logits_nat, logits_adv = torch.randn(B, 10) * 2, torch.randn(B, 10) * 2
    y = torch.randint(0, 10, (B,))
    t = mart_terms(logits_nat, logits_adv, y)
    p_y = F.softmax(logits_nat, 1).gather(1, y[:, None]).squeeze(1)
    assert torch.allclose(t["weight"], 1 - p_y, atol=1e-6)
    assert torch.allclose(t["kl"], kl_by_hand(logits_nat, logits_adv), atol=1e-5)
    q = F.softmax(logits_adv, 1)
    wrong_max = q.scatter(1, y[:, None], -1.0).amax(1)
    bce = -q.gather(1, y[:, None]).squeeze(1).log() - (1 - wrong_max).log()
    assert torch.allclose(t["bce"], bce, atol=1e-3)  # the authors' 1.0001 inside the log


def test_mart_backward_loss_matches_formula():
    """MART's loss and gradient written out here, not with mart_terms: mean_i of the boosted CE at x',
    -log p'_y - log(1.0001 - max_{k != y} p'_k) (the authors' 1.0001 keeps the log finite), plus
    beta * KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i)), the weight not detached."""
    x, y, idx = batch()
    model = tiny_net()
    # a radius at which the KL term, and the gradient through the weight, are far above the tolerance
    out = run_backward(defenses.build(MartDefense(kind="mart", beta=6.0, steps=3, step_size=0.1), Ball("linf", 0.3)),
                       model, x, y, idx)
    assert not torch.equal(out.x_train, x)
    p, q = F.softmax(model(x), 1), F.softmax(model(out.x_train), 1)
    q_y = q.gather(1, y[:, None]).squeeze(1)
    wrong_max = q.scatter(1, y[:, None], 0.0).amax(1)
    boosted_ce = -q_y.log() - (1.0001 - wrong_max).log()
    kl = (p * (p.log() - q.log())).sum(1)
    expected = boosted_ce.mean() + 6.0 * (kl * (1 - p.gather(1, y[:, None]).squeeze(1))).mean()
    assert torch.allclose(out.loss, expected.detach(), atol=1e-5)
    for g, h in zip(grads_of(model), torch.autograd.grad(expected, list(model.parameters()))):
        assert torch.allclose(g, h, atol=1e-5)


# ----------------------------------------------------------------------------- MMA
class ConstantLogits(nn.Module):
    """Logits (bias) + tiny input dependence: every input is classified as class 0 by a large margin."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(36, 10)
        with torch.no_grad():
            self.lin.weight.mul_(1e-3)
            self.lin.bias.copy_(torch.tensor([20.0] + [0.0] * 9))

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_mma_radius_grows_for_points_kept_correct_and_resets_for_wrong():
    x, _, idx = batch(n=4)
    y = torch.tensor([0, 0, 0, 3])  # the last is misclassified
    model = ConstantLogits()
    mma = MMA(MmaDefense(kind="mma", d_max=1.0, min_eps=0.2, steps=3, search_steps=6), Ball("l2", 1.0))
    out = run_backward(mma, model, x, y, idx + 5)  # dataset indices 5..8
    r1 = mma.radii[5:9].clone()
    assert (mma.radii[:5] == 0).all()
    assert (r1[:3] > 0.2).all() and (r1[:3] <= 1.05 + 1e-6).all()
    assert r1[3] == 0  # misclassified: restarts at min_eps next time, trained on clean CE
    assert torch.equal(out.x_train[3], x[3])
    run_backward(mma, model, x, y, idx + 5)
    assert (mma.radii[5:8] > r1[:3]).all()
    # checkpointing keeps the radii
    fresh = MMA(mma.cfg, Ball("l2", 1.0))
    fresh.load_state_dict(copy.deepcopy(mma.state_dict()))
    assert torch.equal(fresh.radii, mma.radii.cpu())


def test_mma_bisection_finds_the_margin_of_a_linear_model():
    """Two classes, logits [0, w.x + b]: the soft logit margin is linear and the l2 distance of x to the boundary
    is |w.x + b| / ||w||; AN-PGD (PGD then bisection) must find it to within the bisection's resolution."""
    torch.manual_seed(0)
    lin = nn.Linear(36, 1)
    model = nn.Sequential(nn.Flatten(), lin)
    two = lambda z: torch.cat([torch.zeros_like(z), z], 1)  # noqa: E731
    net = nn.Sequential(model, nn.Module())
    net[1].forward = two
    x = 0.4 + 0.2 * torch.rand(6, *SHAPE)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(1, 36))
        s = lin(x.flatten(1)).squeeze(1)
        lin.bias.sub_(s.mean())  # put the boundary among the points
        s = lin(x.flatten(1)).squeeze(1)
    y = (s > 0).long()
    dist = s.abs() / lin.weight.norm()
    # without a random start, PGD on a linear margin moves exactly along -+w, the shortest l2 path
    mma = MMA(MmaDefense(kind="mma", d_max=2.0, steps=10, search_steps=12, random_start=False), Ball("l2", 2.0))
    x_adv, r = mma.an_pgd(net, x, y, torch.full((6,), 0.5))
    assert (dist < 0.5).all()
    assert torch.allclose(r, dist, atol=0.5 / 2 ** 11), (r, dist)  # bisection over [0, 0.5], 12 halvings
    assert (per_sample_norm(x_adv - x, "l2").flatten() <= r + 1e-5).all()


# ----------------------------------------------------------------------------- ACT
def make_act(alpha=0.9, T=4.0, lr=0.05):
    torch.manual_seed(0)
    g_model = models.build("mlp")
    g_opt = torch.optim.SGD(g_model.parameters(), lr=lr, momentum=0.9)
    act = defenses.build(ActDefense(kind="act", alpha=alpha, temperature=T, steps=2, step_size=0.02),
                         Ball("linf", 0.1), DefenseContext(model_name="mlp", num_classes=10, optimizer=g_opt))
    return g_model, g_opt, act


def test_act_updates_both_models_with_the_stated_losses():
    g_model, g_opt, act = make_act()
    x, y, idx = batch(shape=(1, 28, 28))
    f_before = copy.deepcopy(act.natural)
    out = run_backward(act, g_model, x, y, idx)
    a, T = 0.9, 4.0
    # L_G by hand, with F's output before its step (the one the defense saw)
    g_adv = g_model(out.x_train)
    with torch.no_grad():
        f_nat = f_before(x)
    pt, logq = F.softmax(f_nat / T, 1), F.log_softmax(g_adv / T, 1)
    loss_g = (1 - a) * F.cross_entropy(g_adv, y) + a * T * T * (pt * (pt.log() - logq)).sum(1).mean()
    assert torch.allclose(out.loss, loss_g.detach(), atol=1e-6)
    hand_g = torch.autograd.grad(loss_g, list(g_model.parameters()))
    for h, p in zip(hand_g, g_model.parameters()):
        assert torch.allclose(p.grad, h, atol=1e-6)  # G's gradient accumulated, not yet stepped
    # L_F by hand; F stepped by its own optimiser (first SGD-momentum step: p - lr * grad)
    f_nat = f_before(x)
    pg, logf = F.softmax(g_adv.detach() / T, 1), F.log_softmax(f_nat / T, 1)
    loss_f = (1 - a) * F.cross_entropy(f_nat, y) + a * T * T * (pg * (pg.log() - logf)).sum(1).mean()
    assert torch.allclose(act.last_natural_loss, loss_f.detach(), atol=1e-6)
    hand_f = torch.autograd.grad(loss_f, list(f_before.parameters()))
    for p0, p1, h in zip(f_before.parameters(), act.natural.parameters(), hand_f):
        assert torch.allclose(p1, p0 - 0.05 * h, atol=1e-6)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(f_before.parameters(), act.natural.parameters()))


def test_act_follows_the_lead_learning_rate_and_checkpoints():
    g_model, g_opt, act = make_act()
    assert isinstance(act.optimizer, torch.optim.SGD) and act.optimizer.defaults["momentum"] == 0.9
    for grp in g_opt.param_groups:
        grp["lr"] = 0.001
    x, y, idx = batch(shape=(1, 28, 28))
    run_backward(act, g_model, x, y, idx)
    assert act.optimizer.param_groups[0]["lr"] == 0.001
    other = make_act()[2]
    other.load_state_dict(copy.deepcopy(act.state_dict()))
    for p, q in zip(other.natural.parameters(), act.natural.parameters()):
        assert torch.equal(p, q)
    assert other.optimizer.state_dict()["state"].keys() == act.optimizer.state_dict()["state"].keys()
    with pytest.raises(ValueError, match="model_name"):
        defenses.build(ActDefense(kind="act"), Ball("linf", 0.1))


# ----------------------------------------------------------------------------- Entropy-SGD
@pytest.mark.parametrize("outer", ["gamma", "unscaled"])
def test_entropy_sgd_reduces_to_sgd_with_one_noiseless_step(outer):
    """L = 1, no noise, alpha = 1: the gradient is gamma eta' grad L(w) ('unscaled': eta' grad L(w)),
    plain SGD's gradient when gamma eta' = 1 (eta' = 1)."""
    x, y, idx = batch()
    model = tiny_net()
    gamma = 0.5
    inner = 1 / gamma if outer == "gamma" else 1.0
    cfg = EntropySgdDefense(kind="entropy_sgd", L=1, gamma=gamma, inner_lr=inner, noise=0.0, alpha=1.0,
                            outer_gradient=outer)
    w0 = [p.detach().clone() for p in model.parameters()]
    out = run_backward(defenses.build(cfg, Ball("linf", 0.1)), model, x, y, idx)
    g_esgd = grads_of(model)
    for p, w in zip(model.parameters(), w0):
        assert torch.equal(p, w)  # weights restored
    ref = run_backward(defenses.build(SgdDefense(kind="sgd"), Ball("linf", 0.1)), model, x, y, idx)
    assert torch.allclose(out.loss, ref.loss)
    for a, b in zip(g_esgd, grads_of(model)):
        assert torch.allclose(a, b, atol=1e-6)


def test_entropy_sgd_approaches_sgd_as_gamma_grows():
    x, y, idx = batch()
    model = tiny_net()
    run_backward(defenses.build(SgdDefense(kind="sgd"), Ball("linf", 0.1)), model, x, y, idx)
    g_ref = torch.cat([g.flatten() for g in grads_of(model)])
    errs = []
    for gamma in (10.0, 1000.0):
        cfg = EntropySgdDefense(kind="entropy_sgd", L=5, gamma=gamma, inner_lr=1 / gamma, noise=0.0, alpha=1.0,
                            outer_gradient="gamma")
        run_backward(defenses.build(cfg, Ball("linf", 0.1)), model, x, y, idx)
        g = torch.cat([g.flatten() for g in grads_of(model)])
        errs.append(((g - g_ref).norm() / g_ref.norm()).item())
    assert errs[1] < 1e-2 and errs[1] < errs[0] / 10
    # with the defaults (noise, alpha < 1, small gamma) it is not SGD
    d = defenses.build(EntropySgdDefense(kind="entropy_sgd"), Ball("linf", 0.1))
    run_backward(d, model, x, y, idx)
    assert d.state_dict() == {"t": 1}
    g = torch.cat([g.flatten() for g in grads_of(model)])
    assert not torch.allclose(g, g_ref, rtol=0.1)


# ----------------------------------------------------------------------------- ATENT, K = 0
def test_atent_with_k0_trains_on_the_starting_point():
    x, y, idx = batch()
    model = tiny_net()
    cfg = AtentLinfDefense(kind="atent_linf", K=0, gamma=10.0)
    torch.manual_seed(3)
    out = run_backward(defenses.build(cfg, Ball("linf", 0.1)), model, x, y, idx)
    g_atent = grads_of(model)
    torch.manual_seed(3)
    x0 = build_sampler(cfg).start(x).clamp(0, 1)
    assert torch.equal(out.x_train, x0) and not torch.equal(x0, x)
    model.zero_grad()
    loss = F.cross_entropy(model(x0), y)
    loss.backward()
    assert torch.allclose(out.loss, loss.detach())
    for a, b in zip(g_atent, grads_of(model)):
        assert torch.allclose(a, b, atol=1e-7)


def chain_iterates(sampler, model, x, y) -> list[torch.Tensor]:
    """x^0..x^K of the sampler's chain, run here step by step with its own start and step (model as it is)."""
    xs = [sampler.start(x).clamp(0, 1)]
    for k in range(sampler.cfg.K):
        xk = xs[-1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xk), y), xk)
        xs.append(sampler.step(xk.detach(), x, g, is_last=k + 1 == sampler.cfg.K).clamp(0, 1))
    return xs


@pytest.mark.parametrize("cfg", [
    AtentLinfDefense(kind="atent_linf", K=4, radius=0.2, step_size=0.05, noise=0.1, model_mode="train",
                     mu_grad_cutoff=0.0),
    AtentL2Defense(kind="atent_l2", K=4, gamma=0.1, radius=1.0, step_size=0.2, noise=0.1, model_mode="train",
                   mu_grad_cutoff=0.0),
], ids=["linf", "l2"])
def test_atent_accumulated_gradient_is_the_gradient_of_mu_in_train_mode(cfg):
    """With batch norm in train mode (batch statistics, so the mode changes every loss), the gradient the sampler
    accumulates along its chain equals autograd of mu = sum_k c_k CE(f(x^k), y) on the same iterates."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 10))
    model.train()
    x, y, _ = batch()
    sampler = AtentLinf(cfg) if cfg.kind == "atent_linf" else AtentL2(cfg)
    torch.manual_seed(7)
    xs = chain_iterates(sampler, model, x, y)
    mu = sum(c * F.cross_entropy(model(xk), y) for c, xk in zip(mu_weights(cfg.K, cfg.alpha), xs))
    expected = torch.autograd.grad(mu, list(model.parameters()))
    with torch.no_grad():
        out_train, out_eval = model(xs[-1]), model.eval()(xs[-1])
    assert not torch.allclose(out_train, out_eval, atol=1e-3)  # the mode matters for this model
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    res = sampler.accumulate(model, x, y)
    assert torch.equal(res.x_adv, xs[-1])
    assert torch.allclose(res.mu, mu.detach(), atol=1e-6)
    for p, g in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, g, atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- every training attack in its ball
BALL_CASES = [
    (PgdAtDefense(kind="pgd_at", steps=3, step_size=0.05), "linf"),
    (PgdAtDefense(kind="pgd_at", steps=3, step_size=0.3), "l2"),
    (TradesDefense(kind="trades", steps=3, step_size=0.05), "linf"),
    (TradesDefense(kind="trades", steps=3, step_size=0.3), "l2"),
    (MartDefense(kind="mart", steps=3, step_size=0.05), "linf"),
    (MartDefense(kind="mart", steps=3, step_size=0.3), "l2"),
    (ActDefense(kind="act", steps=3, step_size=0.05), "linf"),
    (ActDefense(kind="act", steps=3, step_size=0.3), "l2"),
    (AtentLinfDefense(kind="atent_linf", K=3, gamma=10.0, step_size=0.05), "linf"),
    (MmaDefense(kind="mma", steps=3, search_steps=4), "linf"),
    (MmaDefense(kind="mma", steps=3, search_steps=4), "l2"),
]


@pytest.mark.parametrize("cfg,norm", BALL_CASES, ids=[f"{c.kind}-{n}" for c, n in BALL_CASES])
def test_training_points_stay_in_ball_and_box(cfg, norm):
    eps = 0.1 if norm == "linf" else 0.75
    ball = Ball(norm, eps)
    x, y, idx = batch(n=6, shape=(1, 28, 28))
    x[0] = 0.0
    x[1] = 1.0  # the box binds
    model = models.build("mlp")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    d = defenses.build(cfg, ball, DefenseContext(model_name="mlp", optimizer=opt))
    out = run_backward(d, model, x, y, idx)
    xt = out.x_train
    assert xt.shape == x.shape and xt.min() >= 0 and xt.max() <= 1
    radius = eps * (cfg.max_eps_factor if cfg.kind == "mma" else 1.0)
    assert (per_sample_norm(xt - x, norm) <= radius + 1e-5).all()
    if cfg.kind == "mma":
        assert (per_sample_norm(xt - x, norm).flatten() <= d.radii[idx] + 1e-5).all()
    assert torch.isfinite(out.loss) and out.loss.dim() == 0


class ModeRecorder(nn.Module):
    """Identity that records, on each forward, whether it ran in train mode and whether its input needed a
    gradient (the crafting steps differentiate w.r.t. the input; the loss forwards do not)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, x.requires_grad))
        return x


@pytest.mark.parametrize("cfg", [TradesDefense(kind="trades", steps=3, step_size=0.05),
                                 MartDefense(kind="mart", steps=3, step_size=0.05)], ids=["trades", "mart"])
def test_trades_and_mart_craft_in_eval_mode_and_train_in_train_mode(cfg):
    """As the authors' code: every forward of the attack in eval mode, the two loss forwards in train mode, and the
    model left in train mode."""
    x, y, idx = batch()
    rec = ModeRecorder()
    model = nn.Sequential(nn.Flatten(), rec, nn.Linear(36, 16), nn.Tanh(), nn.Linear(16, 10))
    model.train()
    run_backward(defenses.build(cfg, Ball("linf", 0.1)), model, x, y, idx)
    crafting = [training for training, needs_grad in rec.calls if needs_grad]
    assert len(crafting) == 3 and not any(crafting), rec.calls
    assert [training for training, _ in rec.calls[-2:]] == [True, True], rec.calls
    assert all(m.training for m in model.modules())


def test_eps_warmup_at_zero_trains_on_clean_inputs():
    x, y, idx = batch()
    for cfg in (TradesDefense(kind="trades"), MartDefense(kind="mart"), MmaDefense(kind="mma")):
        d = defenses.build(cfg, Ball("linf", 0.1))
        d.set_eps_scale(0.0)
        out = run_backward(d, tiny_net(), x, y, idx)
        assert out.x_train is None or torch.equal(out.x_train, x)


# ----------------------------------------------------------------------------- configs
def test_configs_discriminate_on_kind_with_paper_defaults():
    ta = TypeAdapter(DefenseConfig)
    assert ta.validate_python({"kind": "trades"}) == TradesDefense(kind="trades", beta=6.0, steps=10, step_size=0.007)
    assert ta.validate_python({"kind": "mart"}).beta == 6.0
    assert ta.validate_python({"kind": "act"}).alpha == 0.9 and ta.validate_python({"kind": "act"}).temperature == 4
    assert ta.validate_python({"kind": "entropy_sgd"}).L == 5
    assert abs(ta.validate_python({"kind": "mma"}).clean_weight - 1 / 3) < 1e-12
    with pytest.raises(ValidationError):
        ta.validate_python({"kind": "trades", "betta": 6})
    with pytest.raises(ValidationError):
        ta.validate_python({"kind": "mart", "beta": -1})


@pytest.mark.parametrize("kind", ["sgd", "pgd_at", "trades", "mart", "mma", "entropy_sgd", "atent_linf", "atent_l2",
                                  "act"])
def test_every_kind_with_its_defaults_takes_one_training_step(kind):
    """Each defense, built from its default config, gives a finite loss and finite gradients that move every
    layer's weights in one SGD step."""
    cfg = TypeAdapter(DefenseConfig).validate_python({"kind": kind})
    ball = Ball("l2", 1.0) if kind == "atent_l2" else Ball("linf", 0.1)
    if kind == "act":  # ACT trains a second model of the experiment's architecture
        torch.manual_seed(0)
        model, shape = models.build("mlp"), (1, 28, 28)
    else:
        model, shape = tiny_net(), SHAPE
    x, y, idx = batch(shape=shape)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    d = defenses.build(cfg, ball, DefenseContext(model_name="mlp", optimizer=opt))
    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad(set_to_none=True)
    out = d.backward(model, x, y, idx)
    opt.step()
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    for p, p0 in zip(model.parameters(), before):
        assert p.grad is not None and torch.isfinite(p.grad).all()
        change = (p.detach() - p0).abs().max()
        assert torch.isfinite(change) and change > 0
