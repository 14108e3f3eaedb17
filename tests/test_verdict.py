"""The verdict's statistics against closed forms: McNemar's exact p-value is a two-sided binomial tail of the
discordant digits; the seed interval is Welch's t-interval written out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from atentlib import verdict


def test_mcnemar_counts_discordant_digits_and_matches_the_binomial_tail():
    a = np.array([1] * 50 + [1] * 9 + [0] * 2 + [0] * 39, dtype=bool)
    b = np.array([1] * 50 + [0] * 9 + [1] * 2 + [0] * 39, dtype=bool)
    r = verdict.mcnemar(a, b)
    assert (r.n, r.only_a, r.only_b) == (100, 9, 2)
    assert r.difference == pytest.approx(7.0)
    # exact two-sided p: 2 * P(X <= 2), X ~ Binomial(11, 1/2)
    expected = 2 * sum(math.comb(11, k) for k in range(3)) / 2 ** 11
    assert r.p_value == pytest.approx(expected, rel=1e-9)
    assert verdict.mcnemar(a, a).p_value == 1.0
    with pytest.raises(ValueError, match="same digits"):
        verdict.mcnemar(a, b[:50])


def test_seed_difference_is_welchs_interval():
    a, b = [91.0, 92.5, 90.8], [89.9, 90.1, 91.0]
    r = verdict.seed_difference(a, b, confidence=0.95)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    dof = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    d = np.mean(a) - np.mean(b)
    assert (r.difference, r.low, r.high) == pytest.approx((d, d - half, d + half))
    diffs = np.subtract(a, b)
    t = diffs.mean() / (diffs.std(ddof=1) / math.sqrt(3))
    assert r.p_paired == pytest.approx(2 * stats.t.sf(abs(t), 2))
    with pytest.raises(ValueError, match="at least two seeds"):
        verdict.seed_difference([90.0], [91.0, 92.0])


def test_the_sentence_follows_the_numbers():
    sure = verdict.seed_difference([95.0, 95.2, 95.1], [93.0, 93.1, 92.9])
    tie = verdict.seed_difference([95.0, 93.0, 94.0], [94.0, 95.0, 93.0])
    many = verdict.mcnemar(np.r_[np.ones(60), np.zeros(40)].astype(bool),
                           np.r_[np.ones(30), np.zeros(70)].astype(bool))
    assert "atent is more robust than pgd_at" in verdict.verdict_sentence("atent", "pgd_at", "pgd20", sure, many)
    assert "no difference" in verdict.verdict_sentence("atent", "pgd_at", "pgd20", tie, None)
    narrow = verdict.seed_difference([95.0, 95.2, 95.1], [93.0, 93.1, 92.9], confidence=0.9)
    assert "(90% interval" in verdict.verdict_sentence("atent", "pgd_at", "pgd20", narrow, None)   # not a fixed 95%
    worse = verdict.seed_difference([93.0, 93.1, 92.9], [95.0, 95.2, 95.1])
    assert "less robust" in verdict.verdict_sentence("atent", "pgd_at", "aa", worse, None)
    assert "no firm difference" in verdict.verdict_sentence("atent", "pgd_at", "aa", sure,
                                                            verdict.mcnemar(np.ones(10, bool), np.ones(10, bool)))
