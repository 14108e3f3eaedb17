"""report: seeds folded into one row with the right mean and sd, early-stopped rows, the paper's numbers beside."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from atentlib import report


def _ours() -> pd.DataFrame:
    rows = []
    for d, nat, rob in [("sgd", 99.0, 1.0), ("pgd_at", 98.0, 90.0), ("pgd_at_seed1", 98.5, 92.0),
                        ("pgd_at_seed2", 97.5, 94.0)]:
        rows.append({"defense": d, "checkpoint": "last", "epoch": 10, "n_test": 100, "natural": nat, "pgd20": rob})
        rows.append({"defense": d, "checkpoint": "best", "epoch": 8, "n_test": 100, "natural": nat, "pgd20": rob + 1})
    return pd.DataFrame(rows)


def test_seed_groups_follow_the_naming_rule():
    assert report.seed_groups(["sgd", "pgd_at", "pgd_at_seed1", "mma_seed3", "pgd_at_seed2"]) == {
        "sgd": ["sgd"], "pgd_at": ["pgd_at", "pgd_at_seed1", "pgd_at_seed2"], "mma_seed3": ["mma_seed3"]}
    assert report.seed_base("atent_linf_seed12") == "atent_linf" and report.seed_base("atent_linf") == "atent_linf"


def test_summarize_gives_mean_and_sample_sd_over_seeds():
    ours = _ours()
    s = report.table_summary(ours, ["sgd", "pgd_at", "pgd_at_seed1", "pgd_at_seed2"], early_stopped="pgd_at")
    assert list(s.index) == ["sgd", "pgd_at", "pgd_at_e"]
    assert s.loc["pgd_at", "pgd20"] == pytest.approx(92.0) and s.loc["pgd_at", "pgd20 sd"] == pytest.approx(2.0)
    assert s.loc["pgd_at_e", "pgd20"] == pytest.approx(93.0)   # the best checkpoints
    assert s.loc["pgd_at", "seeds"] == 3 and math.isnan(s.loc["sgd", "pgd20 sd"])
    with pytest.raises(KeyError, match="mart"):
        report.summarize(ours, {"mart": ["mart"]})


def test_beside_paper_puts_the_papers_numbers_in_labelled_columns():
    s = report.table_summary(_ours(), ["sgd", "pgd_at", "pgd_at_seed1"])
    t = report.beside_paper(s, "table2_mnist_linf", "quick")
    assert t.loc["pgd_at", "PGD-20 (paper)"] == 96.01 and t.loc["pgd_at", "pgd20 (quick)"] == 91.0
    assert t.loc["pgd_at", "pgd20 sd (quick)"] == pytest.approx(1.41, abs=0.01)
    lines = report.findings(s, report.paper_numbers("table2_mnist_linf")["rows"], {"pgd20": "pgd20"})
    assert lines[1].startswith("PGD-AT [2 seeds]: natural 98.25 ± 0.35; pgd20 91.00 ± 1.41 (paper 96.01, -5.01)")


def test_attacks_on_a_subset_are_named_in_the_description_and_the_table_note():
    from atentlib.config import load_profile

    exp = load_profile("quick").experiment("mnist_l2")
    cw = next(a for a in exp.evaluation.attacks if a.name == "cw")
    assert cw.n_examples < exp.evaluation.n_examples
    assert f"cw on the first {cw.n_examples} examples" in report.subset_note(exp.evaluation)
    assert f"(first {cw.n_examples} examples only)" in report.describe_experiment(exp)
    assert report.attack_labels(exp.evaluation) == {"cw": f"cw (first {cw.n_examples})"}
    linf = load_profile("quick").experiment("mnist_linf").evaluation
    assert report.subset_note(linf) == "" and report.attack_labels(linf) == {}
