"""1-D illustration of ATENT's sampler (Figure 2 of Jagatap et al.).

ATENT draws perturbed points X' near a data point x from

    p(x'|x) ∝ exp(L(x') − (γ/2)(x' − x)²)

with the Langevin update

    x' ← x' + η·∇log p(x') + σ·√(2η)·N(0, 1),   ∇log p(x') = L'(x') − γ(x' − x).

Facts this module makes checkable:

* σ is a *temperature*: the update is the Langevin chain of p^(1/σ²), not of p.
  With σ = 1 it samples p(x'|x); with the paper's σ = 1e-3 it concentrates at the
  modes of p (close to a noisy gradient ascent).
* The step η biases the stationary law (unadjusted Langevin, no Metropolis step);
  the bias shrinks with η, and a burn-in removes the dependence on the start x' = x.

The papers do not give Figure 2's loss, so we choose (``BumpyLoss``) a smooth,
bounded loss with three Gaussian bumps and a gentle bounded slope:

    L(x) = Σ_k a_k exp(−(x − c_k)² / (2 w_k²)) + s·tanh(x),
    a = (0.5, 0.6, 0.6), c = (−0.3, 0.35, 0.95), w = (0.2, 0.2, 0.25), s = 0.3.

With x = 0.4 and γ = 1, p(x'|x) has three modes (≈ −0.20, 0.40, 0.89); at
temperature σ² = 0.09 the left mode nearly vanishes. |L''| ≤ 12, so steps η ≲ 0.1
are stable. Everything is numpy and vectorised over parallel chains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

X_PAPER = 0.4  # the data point used in the paper's Figure 2


@dataclass(frozen=True)
class BumpyLoss:
    """L(x) = Σ a_k exp(−(x−c_k)²/(2w_k²)) + slope·tanh(x); smooth and bounded."""

    amps: tuple[float, ...] = (0.5, 0.6, 0.6)
    centers: tuple[float, ...] = (-0.3, 0.35, 0.95)
    widths: tuple[float, ...] = (0.2, 0.2, 0.25)
    slope: float = 0.3

    def _bumps(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(x, dtype=float)[..., None] - np.asarray(self.centers)
        w2 = np.asarray(self.widths) ** 2
        return d, np.asarray(self.amps) * np.exp(-d**2 / (2 * w2))

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        _, b = self._bumps(x)
        return b.sum(-1) + self.slope * np.tanh(x)

    def grad(self, x: np.ndarray | float) -> np.ndarray:
        """Analytic derivative L'(x)."""
        d, b = self._bumps(x)
        return (-b * d / np.asarray(self.widths) ** 2).sum(-1) + self.slope / np.cosh(x) ** 2

    @property
    def bound(self) -> float:
        """An upper bound on sup |L|."""
        return float(np.sum(np.abs(self.amps)) + abs(self.slope))


def _positive(**kw: float) -> None:
    for name, v in kw.items():
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")


def log_density(xp: np.ndarray, x: float, gamma: float, loss: BumpyLoss,
                temperature: float = 1.0) -> np.ndarray:
    """Unnormalised log p(x'|x)^(1/T) = (L(x') − γ/2 (x'−x)²) / T."""
    _positive(gamma=gamma, temperature=temperature)
    xp = np.asarray(xp, dtype=float)
    return (loss(xp) - 0.5 * gamma * (xp - x) ** 2) / temperature


def _fine_grid(x: float, gamma: float, loss: BumpyLoss, temperature: float,
               n: int = 40001) -> tuple[np.ndarray, np.ndarray, float]:
    """Fine grid wide enough that the neglected tails are < e^-40 relative to the peak.

    Returns (grid, normalised density on it, log Z)."""
    _positive(gamma=gamma, temperature=temperature)
    half = np.sqrt(2 * (40 * temperature + 2 * loss.bound) / gamma)
    g = np.linspace(x - half, x + half, n)
    lp = log_density(g, x, gamma, loss, temperature)
    m = lp.max()
    log_z = m + np.log(np.trapezoid(np.exp(lp - m), g))
    return g, np.exp(lp - log_z), float(log_z)


def exact_density(grid: np.ndarray, x: float, gamma: float, loss: BumpyLoss,
                  temperature: float = 1.0) -> np.ndarray:
    """p(x'|x)^(1/T) / Z on `grid`, with Z computed by quadrature on a fine, wide grid."""
    log_z = _fine_grid(x, gamma, loss, temperature)[2]
    return np.exp(log_density(grid, x, gamma, loss, temperature) - log_z)


def exact_cdf(points: np.ndarray, x: float, gamma: float, loss: BumpyLoss,
              temperature: float = 1.0) -> np.ndarray:
    """CDF of p^(1/T) at `points` (cumulative trapezoid on the fine grid, interpolated)."""
    g, p, _ = _fine_grid(x, gamma, loss, temperature)
    c = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(g))])
    return np.interp(points, g, c / c[-1], left=0.0, right=1.0)


def cdf_function(x: float, gamma: float, loss: BumpyLoss,
                 temperature: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """Callable CDF for ``scipy.stats.kstest``."""
    return lambda t: exact_cdf(t, x, gamma, loss, temperature)


def exact_expected_loss(x: float, gamma: float, loss: BumpyLoss,
                        temperature: float = 1.0) -> float:
    """E[L(X')] under p^(1/T), by quadrature (what `average_loss` estimates)."""
    g, p, _ = _fine_grid(x, gamma, loss, temperature)
    return float(np.trapezoid(loss(g) * p, g))


def average_loss(samples: np.ndarray, loss: BumpyLoss) -> float:
    """Monte-Carlo estimate of the data-entropy loss E[L(X')] from samples."""
    return float(np.mean(loss(np.asarray(samples, dtype=float))))


def langevin_chains(x: float, gamma: float, loss: BumpyLoss, step: float, sigma: float,
                    n_chains: int, n_steps: int, burn_in: int, thin: int = 1,
                    seed: int = 0) -> np.ndarray:
    """Run `n_chains` independent chains from x' = x with the ATENT update.

    Returns the states after steps t = burn_in + thin, burn_in + 2·thin, ... ≤ n_steps,
    shape (n_kept, n_chains). ``burn_in = n_steps − 1`` keeps one sample per chain
    (the final one): i.i.d. draws from the chain's law at time n_steps.
    """
    _positive(gamma=gamma, step=step, sigma=sigma)
    if not np.isfinite(x):
        raise ValueError(f"x must be finite, got {x!r}")
    for name, v, lo in (("n_chains", n_chains, 1), ("n_steps", n_steps, 1), ("thin", thin, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if int(burn_in) != burn_in or not 0 <= burn_in < n_steps:
        raise ValueError(f"burn_in must be an integer in [0, n_steps={n_steps}), got {burn_in!r}")
    if burn_in + thin > n_steps:
        raise ValueError(f"thin must be <= n_steps - burn_in = {n_steps - burn_in}, got {thin!r}")
    rng = np.random.default_rng(seed)
    xp = np.full(int(n_chains), float(x))
    noise = sigma * np.sqrt(2.0 * step)
    kept = []
    for t in range(1, int(n_steps) + 1):
        xp = xp + step * (loss.grad(xp) - gamma * (xp - x)) + noise * rng.standard_normal(xp.shape)
        if t > burn_in and (t - burn_in) % thin == 0:
            kept.append(xp.copy())
    return np.stack(kept)
