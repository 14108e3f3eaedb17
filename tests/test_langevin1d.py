"""Tests for atentlib.langevin1d: the 1-D Langevin sampler of ATENT's Figure 2.

KS tests use ONE sample per chain (burn_in = n_steps - 1) from many independent
chains started at x, so the pooled samples are i.i.d. and scipy's KS test is valid.
"""
import numpy as np
import pytest
from scipy import stats

from atentlib.langevin1d import (
    X_PAPER,
    BumpyLoss,
    average_loss,
    cdf_function,
    exact_cdf,
    exact_density,
    exact_expected_loss,
    langevin_chains,
    log_density,
)

LOSS = BumpyLoss()
GAMMA = 1.0


def _final_samples(step: float, sigma: float, n_chains: int, horizon: float, seed: int = 0):
    n_steps = int(round(horizon / step))
    return langevin_chains(X_PAPER, GAMMA, LOSS, step, sigma, n_chains, n_steps,
                           burn_in=n_steps - 1, seed=seed)[-1]


def test_sigma_one_samples_p_itself():
    z = _final_samples(step=2e-3, sigma=1.0, n_chains=4000, horizon=8.0)
    assert z.shape == (4000,)
    ks = stats.kstest(z, cdf_function(X_PAPER, GAMMA, LOSS, temperature=1.0))
    assert ks.pvalue > 0.01, ks
    # the data-entropy loss estimate agrees with the quadrature value
    se = LOSS(z).std() / np.sqrt(z.size)
    assert abs(average_loss(z, LOSS) - exact_expected_loss(X_PAPER, GAMMA, LOSS)) < 4 * se


def test_step_bias_shrinks_with_step():
    """Unadjusted Langevin is biased by O(step): a big step is detectably off, a small one not."""
    cdf = cdf_function(X_PAPER, GAMMA, LOSS, temperature=1.0)
    big = stats.kstest(_final_samples(0.1, 1.0, 16000, 15.0, seed=1), cdf)
    small = stats.kstest(_final_samples(0.01, 1.0, 16000, 15.0, seed=1), cdf)
    assert big.pvalue < 1e-6, big
    assert big.statistic > 2.5 * small.statistic, (big, small)


def test_sigma_is_a_temperature():
    """The update with sigma samples p^(1/sigma^2), not p."""
    sigma = 0.3
    z = _final_samples(step=5e-3, sigma=sigma, n_chains=4000, horizon=10.0)
    tempered = stats.kstest(z, cdf_function(X_PAPER, GAMMA, LOSS, temperature=sigma**2))
    untempered = stats.kstest(z, cdf_function(X_PAPER, GAMMA, LOSS, temperature=1.0))
    assert tempered.pvalue > 0.01, tempered
    assert untempered.pvalue < 1e-10, untempered
    se = LOSS(z).std() / np.sqrt(z.size)
    exact = exact_expected_loss(X_PAPER, GAMMA, LOSS, temperature=sigma**2)
    assert abs(average_loss(z, LOSS) - exact) < 4 * se
    assert exact > exact_expected_loss(X_PAPER, GAMMA, LOSS)  # colder chain sits higher on L


def test_grad_matches_finite_difference():
    xs = np.linspace(-2.0, 3.0, 201)
    h = 1e-5
    fd = (LOSS(xs + h) - LOSS(xs - h)) / (2 * h)
    np.testing.assert_allclose(LOSS.grad(xs), fd, atol=1e-7)
    assert np.all(np.abs(LOSS(np.linspace(-50, 50, 1001))) <= LOSS.bound)


@pytest.mark.parametrize("temperature", [1.0, 0.09, 1e-3])
def test_exact_density_and_cdf_normalised(temperature):
    grid = np.linspace(X_PAPER - 12, X_PAPER + 12, 200001)
    dens = exact_density(grid, X_PAPER, GAMMA, LOSS, temperature)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-6)
    lp = log_density(grid, X_PAPER, GAMMA, LOSS, temperature)
    np.testing.assert_allclose(np.diff(np.log(dens[dens > 1e-300]))[:10],
                               np.diff(lp[dens > 1e-300])[:10], rtol=1e-8)
    cdf = exact_cdf(grid, X_PAPER, GAMMA, LOSS, temperature)
    assert cdf[0] == pytest.approx(0.0, abs=1e-12) and cdf[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(cdf) >= 0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(gamma=0.0), "gamma"),
    (dict(gamma=-1.0), "gamma"),
    (dict(step=0.0), "step"),
    (dict(sigma=-0.1), "sigma"),
    (dict(sigma=float("nan")), "sigma"),
    (dict(n_chains=0), "n_chains"),
    (dict(n_steps=0), "n_steps"),
    (dict(burn_in=10), "burn_in"),
    (dict(burn_in=-1), "burn_in"),
    (dict(thin=0), "thin"),
    (dict(thin=20), "thin"),
    (dict(x=float("inf")), "x"),
])
def test_bad_parameters_raise(kwargs, name):
    args = dict(x=X_PAPER, gamma=GAMMA, loss=LOSS, step=1e-2, sigma=1.0,
                n_chains=4, n_steps=10, burn_in=5, thin=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name} "):
        langevin_chains(**args)


def test_density_parameters_validated():
    with pytest.raises(ValueError, match="temperature"):
        exact_density(np.zeros(3), X_PAPER, GAMMA, LOSS, temperature=0.0)
    with pytest.raises(ValueError, match="gamma"):
        exact_cdf(np.zeros(3), X_PAPER, -1.0, LOSS)


def test_thinning_shape():
    s = langevin_chains(X_PAPER, GAMMA, LOSS, 1e-2, 1.0, n_chains=7, n_steps=100, burn_in=40, thin=20)
    assert s.shape == (3, 7)  # steps 60, 80, 100
