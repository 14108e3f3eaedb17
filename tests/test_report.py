"""report: seeds folded into one row with the right mean and sd, early-stopped rows, the paper's numbers beside."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from atentlib import report
from atentlib.config import load_profile


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
    exp = load_profile("quick").experiment("mnist_l2")
    cw = next(a for a in exp.evaluation.attacks if a.name == "cw")
    assert cw.n_examples < exp.evaluation.n_examples
    assert f"cw on the first {cw.n_examples} examples" in report.subset_note(exp.evaluation)
    assert f"(first {cw.n_examples} examples only)" in report.describe_experiment(exp)
    assert report.attack_labels(exp.evaluation) == {"cw": f"cw (first {cw.n_examples})"}
    linf = load_profile("quick").experiment("mnist_linf").evaluation
    assert report.subset_note(linf) == "" and report.attack_labels(linf) == {}


def test_epoch_times_pool_seeds_take_the_median_and_divide_by_pgd_at(tmp_path):
    """Fabricated run.json files (test fixture, seconds made up) for the smoke profile's mnist_linf runs: the row
    of a defense pools its seeds' epochs, and 'x pgd_at' is the ratio of the medians."""
    prof = load_profile("smoke")
    exp = prof.experiment("mnist_linf")
    seconds = {"pgd_at": [2.0, 4.0, 3.0], "pgd_at_seed1": [3.5, 100.0], "atent_linf": [4.0, 4.5, 5.0]}
    for d in exp.defenses:
        run = tmp_path / "smoke" / "mnist_linf" / d
        run.mkdir(parents=True)
        amp = "torch.float32" if d == "mart" else "torch.bfloat16"
        run.joinpath("run.json").write_text(json.dumps({"seconds_per_epoch": seconds.get(d, [1.0, 1.0]),
                                                        "amp": amp, "device": "cpu"}))
    t = report.epoch_times(tmp_path, prof, "mnist_linf")
    assert list(t.index) == [d for d in exp.defenses if d != "pgd_at_seed1"]  # the seed is pooled into pgd_at
    assert t.loc["pgd_at", "runs"] == 2 and t.loc["pgd_at", "epochs timed"] == 5
    assert t.loc["pgd_at", "median s/epoch"] == 3.5  # median of 2, 3, 3.5, 4, 100
    assert t.loc["atent_linf", "x pgd_at"] == round(4.5 / 3.5, 3) and t.loc["pgd_at", "x pgd_at"] == 1.0
    assert t.loc["atent_linf", "inner steps"] == exp.defense("atent_linf").K
    assert t.loc["entropy_sgd", "inner steps"] == exp.defense("entropy_sgd").L
    assert t.loc["mart", "autocast"] == "float32" and t.loc["atent_linf", "autocast"] == "bfloat16"
    assert t.loc["atent_linf", "device"] == "cpu"
    with pytest.raises(ValueError, match="reference 'atent_l2'"):
        report.epoch_times(tmp_path, prof, "mnist_linf", reference="atent_l2")
    (tmp_path / "smoke" / "mnist_linf" / "sgd" / "run.json").unlink()
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        report.epoch_times(tmp_path, prof, "mnist_linf")


def test_write_table_gives_each_index_level_its_own_markdown_column(tmp_path):
    df = pd.DataFrame({"defense": ["sgd", "sgd"], "eps": [0.1, 0.2], "pgd20": [82.667, 17.0]}).set_index(
        ["defense", "eps"])
    csv_path, md_path = report.write_table(df, "t", tmp_path, "quick", "caption")
    header = next(line for line in md_path.read_text().splitlines() if line.startswith("|"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["defense", "eps", "pgd20"]
    assert "('sgd'" not in md_path.read_text() and "82.67" in md_path.read_text()
    assert pd.read_csv(csv_path, index_col=[0, 1]).equals(df)


def test_a_tables_own_sentence_follows_the_default_note_and_stands_alone_in_the_paper_profile(tmp_path):
    df = pd.DataFrame({"pgd20": [1.0]})
    quick = report.write_table(df, "q", tmp_path, "quick", "c", extra="Not in this table yet: mart.")[1].read_text()
    assert quick.rstrip().endswith("none is a reproduction of a paper's number. Not in this table yet: mart.")
    paper = report.write_table(df, "p", tmp_path, "paper", "c", extra="Not in this table yet: mart.")[1].read_text()
    assert "reproduction" not in paper and paper.rstrip().endswith("Not in this table yet: mart.")
    assert report.write_table(df, "n", tmp_path, "paper", "c")[1].read_text().rstrip().endswith("|")


def test_the_default_note_speaks_of_marked_columns_only_when_there_are_some(tmp_path):
    marked = pd.DataFrame({"pgd20 (quick)": [1.0], "PGD-20 (paper)": [2.0]})
    unmarked = pd.DataFrame({"pgd20": [1.0]})
    assert "Columns marked (quick)" in report.write_table(marked, "a", tmp_path, "quick", "c")[1].read_text()
    text = report.write_table(unmarked, "b", tmp_path, "quick", "c")[1].read_text()
    assert "Columns marked" not in text and "Every number in this table comes from the quick profile" in text
    assert "quick profile" not in report.write_table(unmarked, "c", tmp_path, "paper", "c")[1].read_text()


def test_plateau_epoch_is_where_the_curve_enters_its_final_band_for_good():
    from atentlib.report import plateau_epoch

    rising_then_flat = [10, 40, 70, 85, 90, 91, 89, 90.5, 90, 91]   # final level: mean of the last 3 = 90.5
    assert plateau_epoch(rising_then_flat, tolerance=2.0) == 5
    assert plateau_epoch(rising_then_flat, tolerance=6.0) == 4       # 85 is within 6 of 90.5
    # a dip out of the band: the plateau starts after it
    dipping = [10, 90, 90, 90, 90, 80, 90, 90, 90, 90]
    assert plateau_epoch(dipping, tolerance=2.0) == 7
    assert plateau_epoch([50.0], tolerance=1.0) == 1
    assert plateau_epoch([10, 20, 30, 40, 50], tolerance=5.0) is None   # still rising: no plateau


def test_training_curves_leave_out_a_run_still_training(tmp_path):
    from atentlib.report import training_curves

    for d, finished in (("pgd_at", True), ("atent_linf", False)):
        run = tmp_path / "p" / "e" / d
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text("epoch,val_robust\n1,10.0\n2,20.0\n")
        if finished:
            (run / "run.json").write_text("{}")
    curves = training_curves(tmp_path, "p", "e", ["pgd_at", "atent_linf"])
    assert set(curves["defense"]) == {"pgd_at"} and list(curves["val_robust"]) == [10.0, 20.0]
