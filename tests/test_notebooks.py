"""Each notebook runs under papermill with the smoke profile, writes its outputs, and passes nbval."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from atentlib import notebook

from .conftest import run_nbval


def _params(smoke_profile_path, smoke_runs, out):
    return {"profile": str(smoke_profile_path), "runs_dir": str(smoke_runs), "figures_dir": str(out / "figures"),
            "tables_dir": str(out / "tables"), "metrics_dir": str(out / "metrics")}


def test_table2_runs_under_papermill(smoke_profile_path, smoke_runs, tmp_path):
    executed = notebook.execute("table2_mnist_linf", _params(smoke_profile_path, smoke_runs, tmp_path),
                                build_dir=tmp_path / "build")
    assert executed.exists()
    table = pd.read_csv(tmp_path / "tables" / "table2_mnist_linf.csv", index_col="defense")
    # every defense once (the extra seed folded into its row), then PGD-AT(E) from PGD-AT's best checkpoints
    assert list(table.index) == ["sgd", "pgd_at", "atent_linf", "trades", "mart", "mma", "act", "entropy_sgd",
                                 "pgd_at_e"]
    assert table.loc["pgd_at", "seeds"] == 2 and table.loc["sgd", "seeds"] == 1
    assert "natural (smoke)" in table.columns and "PGD-20 (paper)" in table.columns and "cw (smoke)" in table.columns
    assert table.loc["atent_linf", "PGD-20 (paper)"] == 96.44 and table.loc["mart", "CW-linf (paper)"] == 96.10
    md = (tmp_path / "tables" / "table2_mnist_linf.md").read_text()
    assert "profile: `smoke`" in md and "not a reproduction" in md
    metrics = json.loads((tmp_path / "metrics" / "table2_mnist_linf.json").read_text())
    assert metrics["profile"] == "smoke"

    def evaluated(defense, which="last"):
        run = smoke_runs / "smoke" / "mnist_linf" / defense
        return json.loads((run / "eval.json").read_text())["checkpoints"][which]

    # each number is its run's eval.json value; pgd_at's the mean of its two seeds, pgd_at_e's of their best
    atent = evaluated("atent_linf")
    assert metrics["atent_linf"]["pgd40"] == round(atent["attacks"]["pgd40"]["accuracy"], 2)
    assert metrics["atent_linf"]["natural"] == round(atent["natural"], 2)
    for row, which in (("pgd_at", "last"), ("pgd_at_e", "best")):
        seeds = [evaluated(d, which)["attacks"]["pgd20"]["accuracy"] for d in ("pgd_at", "pgd_at_seed1")]
        assert metrics[row]["pgd20"] == pytest.approx(sum(seeds) / 2, abs=0.0051)
    for f in ("table2_mnist_linf.png", "table2_mnist_linf.pdf", "table2_mnist_linf_curves.png"):
        assert (tmp_path / "figures" / f).stat().st_size > 1000


def test_table1_runs_under_papermill_and_matches_the_runs(smoke_profile_path, smoke_runs, tmp_path):
    notebook.execute("table1_mnist_l2", _params(smoke_profile_path, smoke_runs, tmp_path), build_dir=tmp_path / "b")
    table = pd.read_csv(tmp_path / "tables" / "table1_mnist_l2.csv", index_col="defense")
    assert list(table.index) == ["sgd", "entropy_sgd", "pgd_at", "trades", "mma", "atent_l2", "pgd_at_e"]
    assert table.loc["atent_l2", "PGD-40 (paper)"] == 77.21
    ev = json.loads((smoke_runs / "smoke" / "mnist_l2" / "atent_l2" / "eval.json").read_text())
    assert table.loc["atent_l2", "pgd40 (smoke)"] == round(ev["checkpoints"]["last"]["attacks"]["pgd40"]["accuracy"], 2)
    cw = ev["checkpoints"]["last"]["attacks"]["cw"]  # CW-l2 on the first 10 of the 40 digits (smoke profile)
    assert cw["kind"] == "cw_l2" and cw["n_examples"] == 10
    assert table.loc["atent_l2", "cw (smoke)"] == round(cw["accuracy"], 2) and "CW-l2 (paper)" in table.columns
    assert "cw on the first 10 examples" in (tmp_path / "tables" / "table1_mnist_l2.md").read_text()
    for f in ("table1_mnist_l2.png", "table1_mnist_l2_curves.png"):
        assert (tmp_path / "figures" / f).stat().st_size > 1000


def test_a_table_part_way_shows_the_evaluated_runs_and_names_the_rest(smoke_profile_path, smoke_runs, tmp_path):
    """A profile part-way through its pipeline (a run trained but not evaluated) still gets its table: the runs with
    an eval.json, seeds averaged over those evaluated, and a note naming the runs left out."""
    runs = tmp_path / "runs"
    shutil.copytree(smoke_runs / "smoke" / "mnist_linf", runs / "smoke" / "mnist_linf")
    for run in ("trades", "pgd_at_seed1"):
        (runs / "smoke" / "mnist_linf" / run / "eval.json").unlink()
    notebook.execute("table2_mnist_linf", _params(smoke_profile_path, runs, tmp_path), build_dir=tmp_path / "b")
    table = pd.read_csv(tmp_path / "tables" / "table2_mnist_linf.csv", index_col="defense")
    assert "trades" not in table.index and table.loc["pgd_at", "seeds"] == 1 and "atent_linf" in table.index
    ev = json.loads((runs / "smoke" / "mnist_linf" / "pgd_at" / "eval.json").read_text())["checkpoints"]
    assert table.loc["pgd_at", "pgd20 (smoke)"] == round(ev["last"]["attacks"]["pgd20"]["accuracy"], 2)
    assert table.loc["pgd_at_e", "pgd20 (smoke)"] == round(ev["best"]["attacks"]["pgd20"]["accuracy"], 2)
    md = (tmp_path / "tables" / "table2_mnist_linf.md").read_text()
    note = md.split("Not in this table yet (evaluation not run): ")[1]
    assert "trades" in note and "pgd_at_seed1" in note and "not a reproduction" in md


def test_robustness_audit_runs_under_papermill(smoke_profile_path, smoke_runs, tmp_path):
    params = {**_params(smoke_profile_path, smoke_runs, tmp_path), "experiment": "mnist_linf"}
    notebook.execute("robustness_audit", params, build_dir=tmp_path / "b")
    table = pd.read_csv(tmp_path / "tables" / "robustness_audit_mnist_linf.csv", index_col="defense")
    assert list(table.index) == ["sgd", "atent_linf"] and set(table["n_examples"]) == {20}
    audit = json.loads((smoke_runs / "smoke" / "mnist_linf" / "sgd" / "audit.json").read_text())["checkpoints"]["last"]
    assert table.loc["sgd", "pgd40"] == round(audit["attacks"]["pgd40"]["accuracy"], 2)
    assert audit["attacks"]["cw_linf"]["n_examples"] == 10
    md = (tmp_path / "tables" / "robustness_audit_mnist_linf.md").read_text()
    assert "the same first 20 held-out test images; cw_linf on the first 10 only." in md
    masking = pd.read_csv(tmp_path / "tables" / "robustness_audit_mnist_linf_masking.csv", index_col="defense")
    assert masking.loc["sgd", "pgd_close_to_autoattack"] == "–"  # AutoAttack is off in the smoke audit
    metrics = json.loads((tmp_path / "metrics" / "robustness_audit_mnist_linf.json").read_text())
    assert metrics["sgd"]["masking_passed"] == audit["masking"]["passed"]
    assert (tmp_path / "figures" / "robustness_audit_mnist_linf.png").stat().st_size > 1000


def test_robustness_audit_shows_autoattack_attack_by_attack(smoke_profile_path, smoke_runs, tmp_path):
    """With AutoAttack in the audit (here: the real standard AutoAttack on one smoke model's 20 digits), the
    notebook tables its accuracy after each attack of the cascade beside PGD-40 on the same digits."""
    import shutil

    import torch

    from atentlib import data
    from atentlib.config import EvalConfig, load_profile
    from atentlib.evaluate import evaluate_run

    prof = load_profile(smoke_profile_path)
    exp = prof.experiment("mnist_linf")
    runs = tmp_path / "runs"
    shutil.copytree(smoke_runs / "smoke" / "mnist_linf", runs / "smoke" / "mnist_linf")
    suite = exp.audit.model_dump()
    suite.update(masking=False, attacks=[*suite["attacks"], {"name": "autoattack", "kind": "autoattack",
                                                             "norm": "linf", "eps": 0.3}])
    bundle = data.load("mnist", prof.data["mnist"], prof.data["mnist"].root)
    audit = evaluate_run(runs / "smoke" / "mnist_linf" / "atent_linf", bundle.test, EvalConfig(**suite),
                         torch.device("cpu"), bundle.info, progress=False, checkpoints=("last",),
                         filename="audit.json")["checkpoints"]["last"]
    notebook.execute("robustness_audit", _params(smoke_profile_path, runs, tmp_path), build_dir=tmp_path / "b")
    steps = pd.read_csv(tmp_path / "tables" / "robustness_audit_mnist_linf_autoattack_steps.csv",
                        index_col="defense")
    assert list(steps.index) == ["atent_linf"]  # the sgd audit has no AutoAttack
    assert list(steps.columns) == ["natural", "pgd40 (ours)", "after apgd-ce", "after apgd-t", "after fab-t",
                                   "after square"]
    row, aa = steps.loc["atent_linf"], audit["attacks"]["autoattack"]
    assert row["pgd40 (ours)"] == round(audit["attacks"]["pgd40"]["accuracy"], 2)
    assert row["after square"] == round(aa["accuracy"], 2) == round(aa["after_each"]["square"], 2)
    assert list(row.iloc[2:]) == sorted(row.iloc[2:], reverse=True)  # a cascade only ever removes digits
    metrics = json.loads((tmp_path / "metrics" / "robustness_audit_mnist_linf.json").read_text())
    broken = metrics["atent_linf"]["autoattack_points_broken_by_each_attack"]
    assert sum(broken.values()) == pytest.approx(row["natural"] - row["after square"], abs=0.02)
    assert (tmp_path / "figures" / "robustness_audit_mnist_linf_autoattack_steps.png").stat().st_size > 1000


@pytest.mark.parametrize("name", ["table2_mnist_linf", "table1_mnist_l2", "robustness_audit"])
def test_table_notebooks_pass_nbval(name, smoke_profile_path, smoke_runs, tmp_path):
    nb = notebook.to_ipynb(name, tmp_path / f"{name}.ipynb", _params(smoke_profile_path, smoke_runs, tmp_path))
    out = run_nbval(nb, tmp_path)
    assert " passed" in out.stdout


def test_failing_notebook_keeps_the_executed_copy(smoke_profile_path, tmp_path):
    params = {"profile": str(smoke_profile_path), "runs_dir": str(tmp_path / "nothing-here"),
              "figures_dir": str(tmp_path), "tables_dir": str(tmp_path), "metrics_dir": str(tmp_path)}
    with pytest.raises(notebook.NotebookError, match="kept at") as err:
        notebook.execute("table2_mnist_linf", params, build_dir=tmp_path / "build")
    kept = tmp_path / "build" / "table2_mnist_linf.ipynb"
    assert str(kept) in str(err.value) and kept.exists()
    assert "no run of mnist_linf has its evaluation done yet" in kept.read_text()   # the error, kept for the reader
