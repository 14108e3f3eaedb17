"""Tests for atentlib.certify (randomized smoothing) against closed-form ground truth."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from atentlib.certify import ABSTAIN, CertifyConfig, Smooth, certified_accuracy

DIM = 4
W = torch.tensor([1.0, -2.0, 0.5, 1.5], dtype=torch.float64)


class Linear2(torch.nn.Module):
    """Class 1 iff w.x + b > 0: logits [0, w.x + b] for inputs of shape [B, d]."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x @ self.w + self.b
        return torch.stack([torch.zeros_like(s), s], dim=1)


class ModeSpy(torch.nn.Module):
    """Records the training flag seen in forward; optionally raises."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.seen: list[bool] = []
        self.fail = fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        if self.fail:
            raise RuntimeError("boom")
        return torch.zeros(x.shape[0], 3, dtype=x.dtype)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def point_with_pa(p_a: float, sigma: float, sign: int) -> tuple[torch.Tensor, float, float]:
    """An input x in [0,1]^d and bias b so that the linear classifier has smoothed p_A = p_a.

    Returns (x, b, true_radius) with true_radius = |w.x + b| / ||w|| = sigma * Phi^-1(p_a).
    """
    x = torch.linspace(0.2, 0.8, DIM, dtype=torch.float64)
    margin = sign * sigma * W.norm().item() * norm.ppf(p_a)
    b = margin - float(x @ W)
    return x, b, abs(margin) / W.norm().item()


@pytest.mark.parametrize("p_a,sign,seed", [(0.8, 1, 0), (0.95, -1, 1), (0.99, 1, 2)])
def test_certify_matches_closed_form_radius(p_a: float, sign: int, seed: int) -> None:
    sigma, n0, n, alpha = 0.25, 100, 20_000, 0.001
    x, b, true_radius = point_with_pa(p_a, sigma, sign)
    smooth = Smooth(Linear2(W, b), num_classes=2, sigma=sigma, batch_size=4096)
    assert math.isclose(true_radius, sigma * norm.ppf(p_a), rel_tol=1e-9)

    cls, radius = smooth.certify(x, n0, n, alpha, generator=gen(seed))
    assert cls == (1 if sign > 0 else 0)
    # A (1 - alpha) lower bound: never above the truth (up to float rounding).
    assert radius <= true_radius + 1e-12
    # Tolerance from the binomial standard error: the estimate p_hat lies within k standard
    # errors of p_a (k = 4, a ~3e-5 two-sided event), and the one-sided Clopper-Pearson bound
    # sits about z_{1-alpha} standard errors (plus O(1/n)) below p_hat.
    se = math.sqrt(p_a * (1 - p_a) / n)
    pa_floor = p_a - (norm.ppf(1 - alpha) + 4.0) * se - 1.0 / n
    min_radius = sigma * norm.ppf(pa_floor)
    assert radius >= min_radius
    # The tolerance is informative, not loose: well under 15% of the true radius here.
    assert true_radius - min_radius < 0.15 * true_radius


def test_predict_clear_point_returns_true_class() -> None:
    x, b, _ = point_with_pa(0.99, 0.25, -1)
    smooth = Smooth(Linear2(W, b), num_classes=2, sigma=0.25)
    assert smooth.predict(x, n=1000, alpha=0.001, generator=gen(3)) == 0


def boundary_model() -> tuple[torch.Tensor, Linear2]:
    """x = 0.5 * ones with w = (1, -1, 1, -1), b = 0: w.x == 0 exactly, so p_A = 0.5 and the
    noisy prediction is a fair coin (the sign of w.eps)."""
    w = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    x = torch.full((DIM,), 0.5, dtype=torch.float64)
    assert float(x @ w) == 0.0
    return x, Linear2(w, 0.0)


def test_certify_abstains_on_boundary() -> None:
    x, model = boundary_model()
    smooth = Smooth(model, num_classes=2, sigma=0.5)
    assert smooth.certify(x, n0=100, n=10_000, alpha=0.001, generator=gen(4)) == (ABSTAIN, 0.0)


def test_predict_abstains_on_tie_at_rate_at_least_one_minus_alpha() -> None:
    x, model = boundary_model()
    smooth = Smooth(model, num_classes=2, sigma=0.5)
    trials, alpha = 200, 0.05
    g = gen(5)
    preds = [smooth.predict(x, n=100, alpha=alpha, generator=g) for _ in range(trials)]
    assert set(preds) <= {ABSTAIN, 0, 1}
    non_abstain = sum(p != ABSTAIN for p in preds)
    # Under a tie, P(non-abstain) <= alpha; allow 3 binomial standard deviations above.
    margin = 3.0 * math.sqrt(trials * alpha * (1 - alpha))
    assert non_abstain <= trials * alpha + margin
    assert preds.count(ABSTAIN) > 0


def test_certify_batch_rows() -> None:
    sigma = 0.25
    center = torch.full((DIM,), 0.5, dtype=torch.float64)
    model = Linear2(W, -float(center @ W))  # boundary through the centre of [0, 1]^d
    x1, x2 = center + 0.2 * W, center - 0.2 * W  # mirror images, both inside [0, 1]^d
    assert 0 <= min(x1.min(), x2.min()) and max(x1.max(), x2.max()) <= 1
    xs = torch.stack([x1, x2, x1])
    ys = torch.tensor([1, 0, 0])
    rows = Smooth(model, 2, sigma).certify_batch(xs, ys, n0=50, n=2000, alpha=0.001,
                                                 generator=gen(6), progress=True)
    assert [set(r) for r in rows] == [{"label", "predict", "radius", "correct", "seconds"}] * 3
    assert [r["predict"] for r in rows] == [1, 0, 1]
    assert [r["correct"] for r in rows] == [True, True, False]
    assert [r["label"] for r in rows] == [1, 0, 0]
    assert all(r["radius"] > 0 and r["seconds"] >= 0 for r in rows)
    with pytest.raises(ValueError, match="same length"):
        Smooth(model, 2, sigma).certify_batch(xs, ys[:2], 10, 10, 0.01)


def test_sampling_chunks_and_reproducibility() -> None:
    x, b, _ = point_with_pa(0.8, 0.3, 1)
    calls: list[int] = []
    model = Linear2(W, b)
    model.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    smooth = Smooth(model, 2, 0.3, batch_size=100)
    counts = smooth._sample_counts(x, 1003, gen(7))
    assert counts.sum() == 1003 and calls == [100] * 10 + [3]
    assert np.array_equal(counts, smooth._sample_counts(x, 1003, gen(7)))
    assert smooth.certify(x, 50, 500, 0.01, gen(8)) == smooth.certify(x, 50, 500, 0.01, gen(8))


@pytest.mark.parametrize("train", [True, False])
def test_model_mode_restored(train: bool) -> None:
    spy = ModeSpy()
    spy.train(train)
    smooth = Smooth(spy, num_classes=3, sigma=0.1, batch_size=8)
    smooth.certify(torch.zeros(2), n0=5, n=20, alpha=0.01, generator=gen(9))
    smooth.predict(torch.zeros(2), n=20, alpha=0.01, generator=gen(9))
    assert spy.seen and not any(spy.seen)  # eval mode inside
    assert spy.training is train

    failing = ModeSpy(fail=True).train(train)
    with pytest.raises(RuntimeError, match="boom"):
        Smooth(failing, 3, 0.1).predict(torch.zeros(2), n=5, alpha=0.01)
    assert failing.training is train


def test_bad_logit_shape_rejected() -> None:
    x, b, _ = point_with_pa(0.8, 0.3, 1)
    with pytest.raises(ValueError, match="num_classes|logits"):
        Smooth(Linear2(W, b), num_classes=3, sigma=0.3).predict(x, n=10, alpha=0.01)


def test_certified_accuracy_hand_example() -> None:
    # Example 0 abstained (radius 0, not correct); 3 is correct but with radius 0.25.
    radii = [0.0, 0.5, 1.0, 0.25, 0.75]
    correct = [False, True, True, True, False]
    got = certified_accuracy(radii, correct, at=[0.0, 0.25, 0.5, 1.0, 1.5])
    assert got == pytest.approx([3 / 5, 3 / 5, 2 / 5, 1 / 5, 0.0])
    with pytest.raises(ValueError, match="same length"):
        certified_accuracy([0.1], [True, False], at=[0.0])
    with pytest.raises(ValueError, match="non-empty"):
        certified_accuracy([], [], at=[0.0])


def test_validation_errors() -> None:
    model = Linear2(W, 0.0)
    for sigma in (0.0, -0.1):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            Smooth(model, 2, sigma)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        Smooth(model, 1, 0.1)
    with pytest.raises(ValueError, match="batch_size"):
        Smooth(model, 2, 0.1, batch_size=0)
    smooth, x = Smooth(model, 2, 0.1), torch.zeros(DIM, dtype=torch.float64)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        smooth.certify(x, n0=10, n=0, alpha=0.01)
    with pytest.raises(ValueError, match="n0 must be"):
        smooth.certify(x, n0=0, n=10, alpha=0.01)
    for alpha in (0.0, 0.5, -1.0):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 0.5\)"):
            smooth.certify(x, n0=10, n=10, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1.0\)"):
        smooth.predict(x, n=10, alpha=1.0)
    with pytest.raises(ValueError, match="n must be"):
        smooth.predict(x, n=0, alpha=0.1)


def test_certify_config_defaults_and_validation() -> None:
    cfg = CertifyConfig()
    assert (cfg.n0, cfg.n, cfg.alpha, cfg.sigma, cfg.batch_size) == (100, 100_000, 0.001, 0.12, 1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sigma = 0.5  # type: ignore[misc]
    for kwargs, field in [({"sigma": 0.0}, "sigma"), ({"n": 0}, "n "), ({"n0": -1}, "n0"),
                          ({"alpha": 0.6}, "alpha"), ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(ValueError, match=field):
            CertifyConfig(**kwargs)
