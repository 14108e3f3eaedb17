"""Variants of one defense, each changing a setting of a reference run: what changed, and whether the change
moves robust accuracy by more than the spread over seeds (the ambiguity study; docs/method.md, Readings).

A variant is a profile entry (with extra seeds `<name>_seed<N>`, grouped by report.seed_groups); its *changes*
are read from its configuration, not from its name.
"""
from __future__ import annotations

import math

import pandas as pd
from pydantic import BaseModel
from scipy import stats

IGNORED_FIELDS = ("train",)  # a seed override is not a change of setting


def config_changes(reference: BaseModel, variant: BaseModel, ignore: tuple[str, ...] = IGNORED_FIELDS
                   ) -> dict[str, tuple]:
    """{field: (reference value, variant value)} for each field of a defense config that differs."""
    if type(reference) is not type(variant):
        return {"kind": (getattr(reference, "kind", None), getattr(variant, "kind", None))}
    ref, var = reference.model_dump(exclude=set(ignore)), variant.model_dump(exclude=set(ignore))
    return {k: (ref[k], var[k]) for k in ref if ref[k] != var[k]}


def describe_changes(changes: dict[str, tuple]) -> str:
    """`projection: final -> every_step; model_mode: train -> eval`, or `reference` when nothing changed."""
    return "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in changes.items()) or "reference"


def against_reference(per_seed: pd.DataFrame, groups: dict[str, list[str]], reference: str,
                      metric: str) -> pd.DataFrame:
    """One row per group: the mean and sd of `metric` over its seeds, the difference of means from the reference
    group, and Welch's t-test p-value of that difference (NaN where a group has fewer than two seeds).

    per_seed: indexed by run name with a `metric` column (one row per run, e.g. the last checkpoints).
    """
    if reference not in groups:
        raise KeyError(f"reference {reference!r} is not one of the groups {sorted(groups)}")
    ref_vals = per_seed.loc[groups[reference], metric].astype(float)
    rows = {}
    for name, members in groups.items():
        vals = per_seed.loc[members, metric].astype(float)
        p = float("nan")
        if name != reference and len(vals) > 1 and len(ref_vals) > 1:
            if vals.std(ddof=1) == 0 and ref_vals.std(ddof=1) == 0:
                p = 1.0 if vals.mean() == ref_vals.mean() else 0.0
            else:
                p = float(stats.ttest_ind(vals, ref_vals, equal_var=False).pvalue)
        rows[name] = {"mean": vals.mean(), "sd": vals.std(ddof=1) if len(vals) > 1 else math.nan,
                      "seeds": len(vals), "minus_reference": vals.mean() - ref_vals.mean(), "p_welch": p}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "variant"
    return out
