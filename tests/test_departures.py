"""The gaps to the paper a table notebook explains, and the set-up differences it gives as their candidate reasons."""
from __future__ import annotations

import pandas as pd

from atentlib.config import load_profile
from atentlib.departures import common_and_own, explain_gaps, large_gaps, setup_differences

PAPER_ROWS = {"pgd_at": {"natural": 99.36, "pgd20": 96.01}, "atent_linf": {"natural": 99.45, "pgd20": 96.44}}


def test_large_gaps_are_those_beyond_the_threshold_either_way():
    summary = pd.DataFrame({"natural": [99.0, 97.4], "pgd20": [98.02, 94.44]}, index=["pgd_at", "atent_linf"])
    gaps = large_gaps(summary, PAPER_ROWS, {"natural": "natural", "pgd20": "pgd20"}, threshold=2.0)
    # 98.02 - 96.01 = +2.01 and 97.4 - 99.45 = -2.05 are beyond 2; 94.44 - 96.44 = -2.00 is not
    assert [(g.defense, g.metric, round(g.diff, 2)) for g in gaps] == [
        ("pgd_at", "pgd20", 2.01), ("atent_linf", "natural", -2.05)]


def test_setup_differences_name_what_the_profiles_set_differently():
    converged, paper = load_profile("converged"), load_profile("paper")
    lines = setup_differences(converged, paper, "mnist_linf", "atent_linf")
    exp, ref = converged.experiment("mnist_linf"), paper.experiment("mnist_linf")
    assert f"atent_linf.K: {exp.defense('atent_linf').K} (paper: {ref.defense('atent_linf').K})" in lines
    assert f"epochs: {exp.train_config('atent_linf').epochs} (paper: {ref.train_config('atent_linf').epochs})" in lines
    assert any(line.startswith("training digits: 7,000") for line in lines)
    # a profile compared with itself departs in nothing
    assert setup_differences(paper, paper, "mnist_linf", "atent_linf") == []


def test_explain_gaps_says_shared_departures_once_and_handles_seed_and_early_stopped_rows():
    converged, paper = load_profile("converged"), load_profile("paper")
    summary = pd.DataFrame({"natural": [99.3, 99.4, 99.3], "pgd20": [90.0, 90.0, 90.0]},
                           index=["pgd_at", "atent_linf", "pgd_at_e"])
    rows = {**PAPER_ROWS, "pgd_at_e": {"pgd20": 96.0}}
    lines = explain_gaps(summary, rows, {"natural": "natural", "pgd20": "pgd20"}, converged, paper, "mnist_linf")
    assert lines[0] == "3 numbers differ from the paper's by more than 2 points:"
    assert sum("epochs: 30 (paper: 100)" in line for line in lines) == 1
    assert "  all: epochs: 30 (paper: 100)" in lines
    assert any(line.startswith("  atent_linf: atent_linf.K:") for line in lines)
    assert any(line.startswith("  pgd_at_e: pgd_at.steps:") for line in lines)
    within = explain_gaps(summary.assign(pgd20=[96.0, 96.4, 96.0]), rows, {"pgd20": "pgd20"}, converged, paper,
                          "mnist_linf")
    assert within == ["Every number with a paper counterpart is within 2 points of it."]


def test_common_and_own_split():
    common, own = common_and_own({"a": ["x", "y"], "b": ["x", "z"]})
    assert common == ["x"] and own == {"a": ["y"], "b": ["z"]}
