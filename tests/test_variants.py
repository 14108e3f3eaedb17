"""The ambiguity study's comparisons: which fields a variant changes, and its difference from the reference with
Welch's test checked against the textbook formula."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from atentlib import variants
from atentlib.config import AtentLinfDefense, PgdAtDefense


def test_config_changes_names_each_changed_field_and_ignores_the_seed():
    ref = AtentLinfDefense(kind="atent_linf", K=5, step_size=0.08)
    var = AtentLinfDefense(kind="atent_linf", K=5, step_size=0.08, projection="every_step", model_mode="eval",
                           train={"seed": 2})
    assert variants.config_changes(ref, var) == {"projection": ("final", "every_step"), "model_mode": ("train", "eval")}
    assert variants.describe_changes(variants.config_changes(ref, var)) == \
        "projection: final -> every_step; model_mode: train -> eval"
    same_but_seed = AtentLinfDefense(kind="atent_linf", K=5, step_size=0.08, train={"seed": 1})
    assert variants.describe_changes(variants.config_changes(ref, same_but_seed)) == "reference"
    assert variants.config_changes(ref, PgdAtDefense(kind="pgd_at")) == {"kind": ("atent_linf", "pgd_at")}


def test_against_reference_is_welch_on_the_seeds():
    per_seed = pd.DataFrame({"pgd20": [80.0, 82.0, 81.0, 70.0, 75.0, 71.0, 90.0]},
                            index=["ref", "ref_seed1", "ref_seed2", "var", "var_seed1", "var_seed2", "single"])
    groups = {"ref": ["ref", "ref_seed1", "ref_seed2"], "var": ["var", "var_seed1", "var_seed2"], "single": ["single"]}
    out = variants.against_reference(per_seed, groups, "ref", "pgd20")
    a, b = [70.0, 75.0, 71.0], [80.0, 82.0, 81.0]
    ma, mb = sum(a) / 3, sum(b) / 3
    def sample_var(v, m):
        return sum((x - m) ** 2 for x in v) / (len(v) - 1)
    va, vb = sample_var(a, ma), sample_var(b, mb)
    t = (ma - mb) / math.sqrt(va / 3 + vb / 3)
    df = (va / 3 + vb / 3) ** 2 / ((va / 3) ** 2 / 2 + (vb / 3) ** 2 / 2)  # Welch-Satterthwaite
    p = 2 * stats.t.sf(abs(t), df)
    assert out.loc["var", "minus_reference"] == pytest.approx(ma - mb)
    assert out.loc["var", "sd"] == pytest.approx(math.sqrt(va))
    assert out.loc["var", "p_welch"] == pytest.approx(p, rel=1e-9)
    assert out.loc["ref", "minus_reference"] == 0 and math.isnan(out.loc["ref", "p_welch"])
    assert out.loc["single", "seeds"] == 1 and math.isnan(out.loc["single", "sd"]) and math.isnan(out.loc["single", "p_welch"])
    with pytest.raises(KeyError, match="reference 'nope'"):
        variants.against_reference(per_seed, groups, "nope", "pgd20")
