"""Tests for atentlib.attacks and the evaluation dispatch: closed forms on linear models first, then the ball, the box
and the model's modes for every attack kind, and agreement with foolbox and AutoAttack. Tiny models, CPU."""
from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from atentlib import attacks
from atentlib.config import EvalConfig
from atentlib.curves import eps_curve
from atentlib.data import Split
from atentlib.evaluate import evaluate_model
from atentlib.threat import Ball, per_sample_norm

D = 16  # inputs [B, 1, 4, 4]


def linear(classes: int = 2, dtype: torch.dtype = torch.float64, seed: int = 0) -> nn.Sequential:
    """Linear classifier on the flattened input, with the classes tied at x = 0.5 (small margins nearby)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, classes)).to(dtype)
    with torch.no_grad():
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))
    return model


def inside(n: int, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    """Inputs in [0.4, 0.6]: the box [0, 1] does not bind for linf eps <= 0.3 or l2 eps <= 0.3."""
    g = torch.Generator().manual_seed(seed)
    return 0.4 + 0.2 * torch.rand(n, 1, 4, 4, generator=g, dtype=dtype)


def two_class(n: int = 12):
    """A linear 2-class model, inputs, labels (the model's predictions), w_y - w_other and the margins."""
    model = linear()
    x = inside(n)
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    w = model[1].weight.detach()
    wd = w[y] - w[1 - y]
    return model, x, y, wd, margin(model, x, y)


@torch.no_grad()
def margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    z = model(x)
    return z.gather(1, y[:, None]).squeeze(1) - z.masked_fill(nn.functional.one_hot(y, z.shape[1]).bool(),
                                                             -float("inf")).amax(1)


def dual(wd: torch.Tensor, norm: str) -> torch.Tensor:
    return wd.abs().sum(1) if norm == "linf" else wd.norm(dim=1)


# ----------------------------------------------------------------------------- closed forms on a linear model
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.2)])
def test_pgd_reaches_closed_form_worst_case(norm, eps):
    model, x, y, wd, m = two_class()
    worst = m - eps * dual(wd, norm)
    exact = attacks.pgd(model, x, y, Ball(norm, eps), steps=10, step_size=eps / 4, random_start=False)
    assert torch.allclose(margin(model, exact, y), worst, atol=1e-9)
    # from a random start: exact in linf (every coordinate reaches its corner); l2 converges to the direction
    rand = attacks.pgd(model, x, y, Ball(norm, eps), steps=20, step_size=eps / 2, restarts=2)
    assert torch.allclose(margin(model, rand, y), worst, atol=1e-3 * eps * dual(wd, norm).max().item())


def test_cw_linf_reaches_closed_form_worst_case():
    model, x, y, wd, m = two_class()
    x_adv = attacks.cw_linf(model, x, y, eps=0.1, steps=10, step_size=0.025)
    assert torch.allclose(margin(model, x_adv, y), m - 0.1 * dual(wd, "linf"), atol=1e-9)


def test_cw_margin_loss():
    logits = torch.tensor([[1.0, 3.0, 2.0], [5.0, -1.0, 0.0]])
    assert torch.equal(attacks.cw_margin_loss(logits, torch.tensor([1, 0])), torch.tensor([-1.0, -5.0]))


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.2)])
def test_fgsm_equals_closed_form(norm, eps):
    model, x, y, wd, m = two_class()
    d = -wd.view_as(x)  # ascent direction of the loss: towards the other class
    step = d.sign() if norm == "linf" else d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    x_adv = attacks.fgsm(model, x, y, Ball(norm, eps))
    assert torch.allclose(x_adv, x + eps * step, atol=1e-12)
    assert torch.allclose(margin(model, x_adv, y), m - eps * dual(wd, norm), atol=1e-12)


def test_atent_attack_reaches_linf_corner():
    model, x, y, wd, m = two_class()
    x_adv = attacks.atent_attack(model, x, y, eps=0.1, steps=30, step_size=0.01)
    assert torch.allclose(margin(model, x_adv, y), m - 0.1 * dual(wd, "linf"), atol=1e-9)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_minimal_perturbation_matches_closed_form(norm):
    model, x, y, wd, m = two_class()
    found = attacks.minimal_perturbation(model, x, y, norm)  # the smaller of FMN and DeepFool
    assert torch.allclose(found, m / dual(wd, norm), rtol=2e-2)
    df = attacks.minimal_perturbation(model, x, y, norm, method="deepfool")  # exact on a linear model
    assert torch.allclose(df, m / dual(wd, norm), rtol=1e-4)
    assert attacks.summarize(found)["n_found"] == len(y)


def test_minimal_perturbation_is_zero_when_already_wrong():
    model, x, y, _, _ = two_class(4)
    assert torch.all(attacks.minimal_perturbation(model, x, 1 - y, "linf", method="deepfool") == 0)


# ----------------------------------------------------------------------------- every kind: ball, box, modes
class Tiny(nn.Module):
    """A small conv net with batch norm and dropout, so that a wrong mode would show."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.relu(self.bn(self.conv(x)))).flatten(1))


SETTINGS = {  # cheap settings of each kind, on top of name/kind/norm/eps
    "pgd": {"steps": 5, "step_size": 0.05, "restarts": 2},
    "fgsm": {},
    "cw_linf": {"steps": 5, "step_size": 0.05},
    "foolbox_pgd": {"steps": 5, "step_size": 0.05},
    "cw_l2": {"steps": 20, "binary_search_steps": 2},
    "deepfool": {"steps": 10},
    "autoattack": {},
    "atent": {"steps": 5, "step_size": 0.05},
}
NORMS = {"cw_linf": ["linf"], "atent": ["linf"], "cw_l2": ["l2"], "autoattack": ["linf"]}
CASES = [(k, n) for k in attacks.ATTACKS.kinds() for n in NORMS.get(k, ["linf", "l2"])]


def suite(*attacks_: dict, **kw) -> EvalConfig:
    return EvalConfig.model_validate({"attacks": list(attacks_), "batch_size": 8, **kw})


@pytest.mark.parametrize("kind,norm", CASES)
def test_every_kind_stays_in_ball_and_box_and_restores_modes(kind, norm):
    eps = 0.1 if norm == "linf" else 0.5
    torch.manual_seed(0)
    model = Tiny()
    model.train()
    model.bn.running_mean.uniform_(-0.1, 0.1)
    stats = model.bn.running_mean.clone()
    x = torch.rand(6, 1, 4, 4)
    x[:, :, 0] = 0.0  # some pixels on the box's faces
    x[:, :, 1] = 1.0
    y = torch.arange(6) % 10
    cfg = suite({"name": "a", "kind": kind, "norm": norm, "eps": eps, **SETTINGS[kind]})
    x_adv = attacks.build(cfg.attacks[0], model, attacks.AttackContext(seed=0, batch_size=8))(x, y)
    assert x_adv.shape == x.shape
    assert torch.all(per_sample_norm(x_adv - x, norm) <= eps + 1e-5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert model.training and model.bn.training and model.drop.training  # modes restored
    assert torch.equal(model.bn.running_mean, stats)  # it ran in eval mode: batch norm statistics untouched


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("which", ["square", "transfer"])
def test_black_box_attacks_stay_in_ball_and_box_and_restore_modes(which, norm):
    eps = 0.1 if norm == "linf" else 0.5
    torch.manual_seed(0)
    model, surrogate = Tiny().train(), Tiny().train()
    x, y = torch.rand(6, 1, 4, 4), torch.arange(6)
    ball = Ball(norm, eps)
    if which == "square":
        x_adv = attacks.square(model, x, y, ball, n_queries=50)
    else:
        x_adv = attacks.transfer(model, x, y, surrogate=surrogate, ball=ball, steps=5, step_size=eps / 2)
    assert torch.all(per_sample_norm(x_adv - x, norm) <= eps + 1e-5)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert all(m.training for m in model.modules()) and all(m.training for m in surrogate.modules())


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_foolbox_pgd_agrees_with_ours(norm, eps):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 10)).double()
    x, y = torch.rand(8, 1, 4, 4, dtype=torch.float64), torch.arange(8)
    ours = attacks.pgd(model, x, y, Ball(norm, eps), steps=10, step_size=eps / 4, random_start=False)
    theirs = attacks.foolbox_pgd(model, x, y, Ball(norm, eps), steps=10, step_size=eps / 4, random_start=False)
    assert torch.allclose(ours, theirs, atol=1e-9)


def test_autoattack_matches_closed_form_robustness_of_a_linear_model():
    model = linear(classes=10, dtype=torch.float32)
    x = inside(6, torch.float32)
    with torch.no_grad():
        z = model(x)
    y, w, eps = z.argmax(1), model[1].weight.detach(), 0.01
    # robust iff every other class stays behind after the worst linf perturbation
    robust = torch.tensor([all(z[i, y[i]] - z[i, j] > eps * (w[y[i]] - w[j]).abs().sum() for j in range(10)
                               if j != y[i]) for i in range(len(y))])
    assert 0 < robust.sum() < len(y)
    x_adv = attacks.autoattack(model, x, y, Ball("linf", eps))
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(1) == y, robust)
    assert torch.all(per_sample_norm(x_adv - x, "linf") <= eps + 1e-6)


@pytest.mark.parametrize("version", ["cheap", "standard"])
def test_autoattack_run_one_attack_at_a_time_equals_pyautoattacks_own_cascade(version, monkeypatch):
    from atentlib.attacks import autoattack_adapter as adapter

    configured = adapter._configured

    def short(*args, **kwargs):  # a short Square keeps the test fast; both runs below get the same set-up
        aa = configured(*args, **kwargs)
        aa.square.n_queries = 200
        return aa
    monkeypatch.setattr(adapter, "_configured", short)

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 10)).eval()
    x = torch.rand(30, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % 10  # three points misclassified before any attack
    ball = Ball("linf", 0.08)
    theirs, _ = adapter._configured(model, x, ball, version, seed=0, n_iter=10).run_standard_evaluation(
        x, y, batch_size=8)  # one call: pyautoattack runs its whole cascade itself
    run = adapter.AutoAttackRun(model, ball, version, batch_size=8, seed=0, n_iter=10)
    ours = run(x, y)
    assert torch.equal(ours, ball.project(theirs, x))
    after = run.accuracy_after_each()
    order = ["clean", "apgd-ce", "apgd-t"] + (["fab-t", "square"] if version == "standard" else [])
    assert list(after) == order
    assert after["clean"] == pytest.approx(100 * 27 / 30)
    assert all(a >= b for a, b in zip(list(after.values()), list(after.values())[1:]))  # a cascade only removes
    with torch.no_grad():
        assert after[order[-1]] == pytest.approx(100 * (model(ours).argmax(1) == y).float().mean().item())
    assert after[order[-1]] < after["clean"]  # the radius is large enough to break some points


def test_autoattack_run_counts_over_every_batch_it_is_called_on():
    from atentlib.attacks.autoattack_adapter import AutoAttackRun

    model = linear(classes=10, dtype=torch.float32)
    x = inside(12, torch.float32)
    with torch.no_grad():
        y = model(x).argmax(1)
    run = AutoAttackRun(model, Ball("linf", 0.01), "cheap", n_iter=5)
    whole = AutoAttackRun(model, Ball("linf", 0.01), "cheap", n_iter=5)
    first, second = run(x[:5], y[:5]), run(x[5:], y[5:])
    assert run.n_points == 12
    assert run.accuracy_after_each()["clean"] == 100.0
    with torch.no_grad():
        final = (model(torch.cat([first, second])).argmax(1) == y).float().mean().item() * 100
    assert run.accuracy_after_each()["apgd-t"] == pytest.approx(final)
    whole(x, y)
    assert whole.accuracy_after_each()["apgd-t"] == pytest.approx(final)  # a linear model: no batch effects


def test_transfer_never_queries_the_target_and_equals_white_box_on_itself():
    model, x, y, _, _ = two_class()

    class Sealed(nn.Module):
        def forward(self, x):
            raise AssertionError("the target was queried")

    ball = Ball("linf", 0.1)
    x_t = attacks.transfer(Sealed(), x, y, surrogate=model, ball=ball, steps=10, step_size=0.025, random_start=False)
    assert torch.equal(x_t, attacks.pgd(model, x, y, ball, 10, 0.025, random_start=False))
    target = linear(seed=3)
    torch.manual_seed(4)
    res = attacks.transfer_accuracy(model, target, x, y, ball, steps=10, step_size=0.025)
    with torch.no_grad():
        white = 100.0 * (model(x_t).argmax(1) == y).double().mean().item()
    assert res["surrogate"] == pytest.approx(white)  # the surrogate sees its own white-box examples
    # the target is scored on the surrogate's examples (same random start), not on the clean inputs
    torch.manual_seed(4)
    x_r = attacks.pgd(model, x, y, ball, 10, 0.025)
    with torch.no_grad():
        on_adv = 100.0 * (target(x_r).argmax(1) == y).double().mean().item()
        on_clean = 100.0 * (target(x).argmax(1) == y).double().mean().item()
    assert res["target"] == pytest.approx(on_adv) and on_adv != on_clean


# ----------------------------------------------------------------------------- config and evaluate_model
def test_attack_config_is_strict_and_kind_defaults_to_pgd():
    cfg = suite({"name": "pgd20", "norm": "linf", "eps": 0.3, "steps": 20, "step_size": 0.01})
    assert cfg.attacks[0].kind == "pgd" and not cfg.masking
    with pytest.raises(ValidationError, match="expected tags: 'pgd', 'fgsm'.*'autoattack', 'atent'"):
        suite({"name": "x", "kind": "bim", "norm": "linf", "eps": 0.3})
    with pytest.raises(ValidationError, match="steps"):  # a field the kind does not take
        suite({"name": "x", "kind": "fgsm", "norm": "linf", "eps": 0.3, "steps": 3})
    with pytest.raises(ValidationError, match="norm"):  # CW-linf is linf
        suite({"name": "x", "kind": "cw_linf", "norm": "l2", "eps": 0.3, "steps": 3, "step_size": 0.1})
    with pytest.raises(ValidationError, match="unique"):
        suite({"name": "x", "kind": "fgsm", "eps": 0.3}, {"name": "x", "kind": "fgsm", "eps": 0.1})
    with pytest.raises(ValidationError, match="masking needs a pgd attack"):
        suite({"name": "x", "kind": "fgsm", "eps": 0.3}, masking=True)


def test_evaluate_model_output_format():
    model = linear(classes=2, dtype=torch.float32)
    x = inside(10, torch.float32)
    with torch.no_grad():
        y = model(x).argmax(1)
    cfg = suite({"name": "pgd5", "norm": "linf", "eps": 0.05, "steps": 5, "step_size": 0.02},
                {"name": "fgsm", "kind": "fgsm", "eps": 0.05}, {"name": "cw", "kind": "cw_linf", "eps": 0.05,
                                                                "steps": 5, "step_size": 0.02})
    out = evaluate_model(model, Split(x, y), cfg, torch.device("cpu"), progress=False)
    assert out["n_examples"] == 10 and out["natural"] == 100.0 and "masking" not in out
    pgd5 = out["attacks"]["pgd5"]
    assert {"accuracy", "kind", "norm", "eps", "steps", "step_size", "restarts", "seconds"} <= set(pgd5)
    assert out["attacks"]["fgsm"]["kind"] == "fgsm"
    # on a linear 2-class model every one of these attacks is exact: the same accuracy
    assert pgd5["accuracy"] == out["attacks"]["fgsm"]["accuracy"] == out["attacks"]["cw"]["accuracy"]


def test_evaluate_model_records_autoattacks_accuracy_after_each_attack():
    model, x, y, wd, m = two_class(12)
    model, x = model.float(), x.float()  # AutoAttack works in float32
    eps = 0.5 * torch.quantile(m / dual(wd, "linf"), 0.5).item()  # half the median radius: most survive, some fall
    cfg = suite({"name": "aa", "kind": "autoattack", "norm": "linf", "eps": eps})
    out = evaluate_model(model, Split(x, y), cfg, torch.device("cpu"), progress=False)
    aa = out["attacks"]["aa"]
    # two classes: no targeted APGD (it needs 4); APGD-CE is exact on a linear model, FAB-T and Square find no more
    assert list(aa["after_each"]) == ["clean", "apgd-ce", "fab-t", "square"]
    assert aa["after_each"]["clean"] == out["natural"] == 100.0
    robust = (m > eps * dual(wd, "linf")).double().mean().item() * 100
    assert aa["after_each"]["apgd-ce"] == aa["after_each"]["square"] == aa["accuracy"] == pytest.approx(robust)


def test_an_attack_with_its_own_n_examples_runs_on_that_many_first_examples():
    model, x, y, wd, m = two_class(20)
    eps = 0.5 * torch.quantile(m / dual(wd, "linf"), 0.5).item()  # the median radius: about half survive
    pgd = {"norm": "linf", "eps": eps, "steps": 10, "step_size": eps / 4, "random_start": False}
    cfg = suite({"name": "all", **pgd}, {"name": "first7", **pgd, "n_examples": 7},
                {"name": "more", **pgd, "n_examples": 50})
    out = evaluate_model(model, Split(x, y), cfg, torch.device("cpu"), progress=False)
    robust = (m > eps * dual(wd, "linf")).double() * 100  # the closed form on a linear model
    assert out["attacks"]["first7"]["n_examples"] == 7
    assert out["attacks"]["first7"]["accuracy"] == pytest.approx(robust[:7].mean().item())
    assert out["attacks"]["all"]["n_examples"] == out["attacks"]["more"]["n_examples"] == 20
    assert out["attacks"]["all"]["accuracy"] == out["attacks"]["more"]["accuracy"] == pytest.approx(robust.mean().item())
    with pytest.raises(ValidationError, match="n_examples"):
        suite({"name": "none", **pgd, "n_examples": 0})


def test_eps_curve_is_monotone_on_a_linear_model():
    model, x, y, wd, m = two_class(20)
    rows = eps_curve(model, x, y, "linf", [0.0, 0.005, 0.01, 0.02, 0.05], steps=10)
    accs = [r["accuracy"] for r in rows]
    assert accs[0] == 100.0 and all(b <= a for a, b in zip(accs, accs[1:]))
    expected = [100.0 * (m > e * dual(wd, "linf")).double().mean().item() for e in (0.0, 0.005, 0.01, 0.02, 0.05)]
    assert accs == pytest.approx(expected)
    assert rows[2]["step_size"] == pytest.approx(2.5 * 0.01 / 10)
