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


def test_paired_runs_pair_seed_i_with_seed_i_and_skip_a_seed_evaluated_on_one_side():
    atent = ["atent_linf", "atent_linf_seed1", "atent_linf_seed2"]
    pgd = ["pgd_at", "pgd_at_seed1", "pgd_at_seed2"]
    everything = set(atent) | set(pgd)
    assert verdict.paired_runs(atent, pgd, everything) == [("atent_linf", "pgd_at"),
                                                           ("atent_linf_seed1", "pgd_at_seed1"),
                                                           ("atent_linf_seed2", "pgd_at_seed2")]
    # seed 1 of ATENT and seed 2 of PGD-AT are evaluated: neither has its partner, so neither pairs
    part_way = {"atent_linf", "pgd_at", "atent_linf_seed1", "pgd_at_seed2"}
    assert verdict.paired_runs(atent, pgd, part_way) == [("atent_linf", "pgd_at")]
    assert verdict.paired_runs(atent, pgd, {"pgd_at", "pgd_at_seed1"}) == []
    # the profile's order does not decide the pairing, the seed does
    assert verdict.paired_runs(list(reversed(atent)), pgd, everything)[0] == ("atent_linf", "pgd_at")


def test_split_evaluated_names_the_runs_without_their_file(tmp_path):
    from atentlib import report

    for d, f in (("sgd", "eval.json"), ("pgd_at", "eval.json"), ("pgd_at", "audit.json"), ("atent_linf", "run.json"),
                 ("trades", "audit.json")):
        (tmp_path / "p" / "e" / d).mkdir(parents=True, exist_ok=True)
        (tmp_path / "p" / "e" / d / f).write_text("{}")
    runs = ["sgd", "pgd_at", "atent_linf", "trades"]
    assert report.split_evaluated(tmp_path, "p", "e", runs) == (["sgd", "pgd_at"], ["atent_linf", "trades"])
    assert report.split_evaluated(tmp_path, "p", "e", runs, suite="audit") == (["pgd_at", "trades"],
                                                                                ["sgd", "atent_linf"])
    assert "atent_linf, trades" in report.missing_note(["atent_linf", "trades"]) and report.missing_note([]) == ""


def test_a_model_counts_as_ready_once_its_last_checkpoint_exists(tmp_path):
    from atentlib import report
    from atentlib.checkpoint import CHECKPOINT_FILES

    for d, f in (("sgd", CHECKPOINT_FILES["last"]), ("pgd_at", "run.json"), ("pgd_at", CHECKPOINT_FILES["best"])):
        (tmp_path / "p" / "e" / d).mkdir(parents=True, exist_ok=True)
        (tmp_path / "p" / "e" / d / f).write_text("")
    assert report.split_evaluated(tmp_path, "p", "e", ["sgd", "pgd_at"], suite="model") == (["sgd"], ["pgd_at"])
    with pytest.raises(FileNotFoundError, match="no run of e has its training done yet"):
        report.evaluated_runs(tmp_path, "p", "e", ["pgd_at"], suite="model")
    with pytest.raises(ValueError, match="suite must be one of evaluation, audit, training, model"):
        report.split_evaluated(tmp_path, "p", "e", ["sgd"], suite="checkpoint")
