"""Randomized smoothing certification (Cohen, Rosenfeld & Kolter, ICML 2019).

The smoothed classifier is ``g(x) = argmax_c P(f(x + eps) = c)`` with
``eps ~ N(0, sigma^2 I)``. If the top class has probability ``p_A >= pA_lower > 1/2``,
then ``g`` is constant on the L2 ball of radius ``sigma * Phi^{-1}(pA_lower)`` around
``x`` (Theorem 1 of the paper). ``pA_lower`` is estimated from Monte Carlo samples, so
the guarantee holds with probability at least ``1 - alpha`` over the sampling.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.stats import binomtest, norm
from statsmodels.stats.proportion import proportion_confint
from tqdm.auto import tqdm

ABSTAIN: int = -1


def _check_alpha(alpha: float, upper: float) -> None:
    if not 0.0 < alpha < upper:
        raise ValueError(f"alpha must be in (0, {upper}), got {alpha}")


def _check_count(name: str, value: int) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")


@dataclass(frozen=True)
class CertifyConfig:
    """Paper defaults: n0=100 selection samples, n=100,000 estimation samples, alpha=0.001."""

    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    sigma: float = 0.12
    batch_size: int = 1000

    def __post_init__(self) -> None:
        _check_count("n0", self.n0)
        _check_count("n", self.n)
        _check_count("batch_size", self.batch_size)
        _check_alpha(self.alpha, 0.5)
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")


class Smooth:
    """Gaussian-smoothed version of ``base_classifier`` (logits ``[B, num_classes]``)."""

    def __init__(self, base_classifier: torch.nn.Module, num_classes: int, sigma: float,
                 batch_size: int = 1000) -> None:
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
        _check_count("batch_size", batch_size)
        self.base_classifier = base_classifier
        self.num_classes = int(num_classes)
        self.sigma = float(sigma)
        self.batch_size = int(batch_size)

    def _sample_counts(self, x: torch.Tensor, num: int,
                       generator: torch.Generator | None = None) -> np.ndarray:
        """Class counts ``[num_classes]`` of ``f(x + sigma * eps)`` over ``num`` draws.

        ``x`` is one input without batch dim; noise is drawn on ``x.device`` (the generator,
        if given, must live on that device). The model runs in eval mode under no_grad and
        its previous train/eval mode is restored afterwards.
        """
        counts = np.zeros(self.num_classes, dtype=np.int64)
        model = self.base_classifier
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                remaining = int(num)
                while remaining > 0:
                    bs = min(self.batch_size, remaining)
                    remaining -= bs
                    batch = x.unsqueeze(0).expand(bs, *x.shape)
                    noise = torch.randn(batch.shape, generator=generator, device=x.device,
                                        dtype=x.dtype)
                    logits = model(batch + self.sigma * noise)
                    if logits.ndim != 2 or logits.shape[1] != self.num_classes:
                        raise ValueError(f"base_classifier must return logits of shape "
                                         f"[B, {self.num_classes}], got {tuple(logits.shape)}")
                    preds = logits.argmax(dim=1)
                    counts += torch.bincount(preds, minlength=self.num_classes).cpu().numpy()
        finally:
            model.train(was_training)
        return counts

    def predict(self, x: torch.Tensor, n: int, alpha: float,
                generator: torch.Generator | None = None) -> int:
        """Smoothed prediction for one input ``x`` (no batch dim, values in [0, 1]).

        Returns the top class, or ``ABSTAIN`` when a two-sided binomial test of the top-2
        counts against p=0.5 has p-value > alpha. The probability of returning a class other
        than ``g(x)`` is at most ``alpha``.
        """
        _check_count("n", n)
        _check_alpha(alpha, 1.0)
        counts = self._sample_counts(x, n, generator)
        top2 = np.argsort(-counts, kind="stable")[:2]
        n_a, n_b = int(counts[top2[0]]), int(counts[top2[1]])
        if binomtest(n_a, n_a + n_b, p=0.5).pvalue > alpha:
            return ABSTAIN
        return int(top2[0])

    def certify(self, x: torch.Tensor, n0: int, n: int, alpha: float,
                generator: torch.Generator | None = None) -> tuple[int, float]:
        """Certify one input ``x`` (no batch dim): returns ``(class, L2 radius)``.

        The class is picked from ``n0`` samples; ``pA_lower`` is the one-sided
        Clopper-Pearson bound (level ``1 - alpha``) from ``n`` fresh samples. With
        probability >= 1 - alpha, ``g`` predicts ``class`` on the whole ball of radius
        ``sigma * Phi^{-1}(pA_lower)``. Returns ``(ABSTAIN, 0.0)`` if ``pA_lower < 0.5``.
        """
        _check_count("n0", n0)
        _check_count("n", n)
        _check_alpha(alpha, 0.5)
        c_hat = int(np.argmax(self._sample_counts(x, n0, generator)))
        n_a = int(self._sample_counts(x, n, generator)[c_hat])
        pa_lower = float(proportion_confint(n_a, n, alpha=2 * alpha, method="beta")[0])
        if pa_lower < 0.5:
            return ABSTAIN, 0.0
        return c_hat, self.sigma * float(norm.ppf(pa_lower))

    def certify_batch(self, x: torch.Tensor, y: torch.Tensor, n0: int, n: int, alpha: float,
                      generator: torch.Generator | None = None,
                      progress: bool = False) -> list[dict]:
        """Certify each of ``x[B, ...]`` with labels ``y[B]``.

        Returns one dict per example: ``label``, ``predict``, ``radius``, ``correct``
        (False when abstaining) and ``seconds``.
        """
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        rows: list[dict] = []
        for i in tqdm(range(len(x)), disable=not progress, desc="certify"):
            start = time.perf_counter()
            pred, radius = self.certify(x[i], n0, n, alpha, generator)
            label = int(y[i])
            rows.append({"label": label, "predict": pred, "radius": radius,
                         "correct": pred != ABSTAIN and pred == label,
                         "seconds": time.perf_counter() - start})
        return rows


def certified_accuracy(radii: Sequence[float], correct: Sequence[bool],
                       at: Sequence[float]) -> list[float]:
    """Share of examples with ``correct`` and ``radius >= r``, for each ``r`` in ``at``.

    Abstentions must carry ``correct=False`` (as ``Smooth.certify_batch`` produces).
    """
    if len(radii) != len(correct):
        raise ValueError(f"radii and correct must have the same length, "
                         f"got {len(radii)} and {len(correct)}")
    if len(radii) == 0:
        raise ValueError("radii must be non-empty")
    r_arr = np.asarray(radii, dtype=float)
    c_arr = np.asarray(correct, dtype=bool)
    return [float(np.mean(c_arr & (r_arr >= r))) for r in at]
