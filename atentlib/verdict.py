"""Is one defense more robust than another? Differences of accuracy with their uncertainty, over seeds and over digits.

Two views of the same question, both needed:
* over seeds (training randomness): the mean difference over seeds with a t-interval (Welch), and a paired t-test
  where seed i of one defense is paired with seed i of the other (same data order, same initialisation seed);
* over digits (test-set randomness): McNemar's exact test on the digits both models were attacked on, which uses
  only the digits where the two disagree (one survives the attack, the other does not).
statsmodels and scipy do the arithmetic; this module only arranges what the evaluation files hold.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as _mcnemar

from .report_names import seed_index


@dataclass(frozen=True)
class SeedDifference:
    """mean(a) - mean(b) over seeds (points), its confidence interval, and two p-values."""

    difference: float
    low: float
    high: float
    p_welch: float            # unpaired: the seeds of a and b as independent samples
    p_paired: float           # seed i of a against seed i of b (NaN when the seeds do not pair up)
    n_a: int
    n_b: int
    confidence: float         # of the interval [low, high]

    def as_dict(self) -> dict:
        return asdict(self)


def seed_difference(a: list[float], b: list[float], confidence: float = 0.95) -> SeedDifference:
    """The difference of mean accuracies a - b over seeds with a Welch t-interval at `confidence`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"seed_difference needs at least two seeds per side, got {len(a)} and {len(b)}")
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        low = high = diff
        p_welch = 1.0 if diff == 0 else 0.0
    else:
        dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = stats.t.ppf(0.5 + confidence / 2, dof) * se
        low, high = diff - half, diff + half
        p_welch = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    p_paired = math.nan
    if len(a) == len(b):
        d = a - b
        p_paired = (1.0 if d.mean() == 0 else 0.0) if d.std(ddof=1) == 0 else float(stats.ttest_rel(a, b).pvalue)
    return SeedDifference(float(diff), float(low), float(high), p_welch, p_paired, len(a), len(b), confidence)


@dataclass(frozen=True)
class DigitComparison:
    """McNemar's exact test of two models on the same digits: only_a = digits a gets right and b wrong."""

    n: int
    only_a: int
    only_b: int
    difference: float         # (only_a - only_b) / n, in points: the accuracy of a minus that of b
    p_value: float

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar(correct_a, correct_b) -> DigitComparison:
    """Compare two per-digit correctness vectors of equal length (the same digits in the same order)."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"mcnemar needs two vectors over the same digits, got shapes {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    table = [[int((a & b).sum()), only_a], [only_b, int((~a & ~b).sum())]]
    p = 1.0 if only_a + only_b == 0 else float(_mcnemar(table, exact=True).pvalue)
    return DigitComparison(len(a), only_a, only_b, 100.0 * (only_a - only_b) / max(1, len(a)), p)


def paired_runs(runs_a: list[str], runs_b: list[str], evaluated: set[str] | list[str]) -> list[tuple[str, str]]:
    """(seed i of a, seed i of b) for each seed i that both sides have evaluated, in seed order.

    Runs are profile entries, `<defense>` for seed 0 and `<defense>_seed<i>` for seed i; a seed evaluated on one side
    only is left out, never paired with another seed of the other side (the pairs share data order and init seed).
    """
    done = set(evaluated)
    b_by_seed = {seed_index(r): r for r in runs_b if r in done}
    pairs = [(r, b_by_seed[seed_index(r)]) for r in runs_a if r in done and seed_index(r) in b_by_seed]
    return sorted(pairs, key=lambda pair: seed_index(pair[0]))


def verdict_sentence(name: str, other: str, attack: str, seeds: SeedDifference | None,
                     digits: DigitComparison | None, alpha: float = 0.05) -> str:
    """One sentence stating, from the numbers, whether `name` is more robust than `other` under `attack`."""
    parts, signs = [], []
    if seeds is not None:
        parts.append(f"{seeds.difference:+.2f} points over {seeds.n_a} and {seeds.n_b} seeds ({seeds.confidence:.0%} "
                     f"interval [{seeds.low:+.2f}, {seeds.high:+.2f}]; paired p = {seeds.p_paired:.3f})")
        if seeds.low > 0 or seeds.high < 0:
            signs.append(1 if seeds.low > 0 else -1)
        else:
            signs.append(0)
    if digits is not None:
        parts.append(f"{digits.difference:+.2f} points on the same {digits.n} digits (McNemar: {digits.only_a} digits "
                     f"only {name} keeps, {digits.only_b} only {other} keeps, p = {digits.p_value:.3g})")
        signs.append(0 if digits.p_value >= alpha else (1 if digits.only_a > digits.only_b else -1))
    if signs and all(s == 1 for s in signs):
        call = f"{name} is more robust than {other}"
    elif signs and all(s == -1 for s in signs):
        call = f"{name} is less robust than {other}"
    elif any(s != 0 for s in signs) and not (1 in signs and -1 in signs):
        call = f"{name} and {other} differ in one test but not the other: no firm difference"
    else:
        call = f"no difference between {name} and {other} beyond the noise"
    return f"{attack}: {call}: " + "; ".join(parts) + "."
