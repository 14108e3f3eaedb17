"""The analysis notebooks (eps curves, Figure S1, Tables S2 and S3) run under papermill with the smoke profile on
the smoke runs, and what they write agrees with the runs and the library they read."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from scipy.stats import norm

from atentlib import notebook, runs
from atentlib.config import load_profile

from .conftest import run_nbval

ANALYSES = ["eps_curves", "figS1_training_curves", "tableS3_atent_attack", "tableS2_smoothing", "ablations_gamma_K", "act_analyses",
            "ambiguities", "finetune", "cifar_tables", "act_alpha"]
# parameters the pipeline passes on the command line (-p) rather than from the profile's notebooks section
COMMAND_LINE = {"cifar_tables": {"experiment": "cifar_linf", "table_name": "table3_cifar_linf"}}


def _params(name, smoke_profile_path, smoke_runs, out):
    prof = load_profile(smoke_profile_path)
    return {"profile": str(smoke_profile_path), "runs_dir": str(smoke_runs), "figures_dir": str(out / "figures"),
            "tables_dir": str(out / "tables"), "metrics_dir": str(out / "metrics"), **prof.notebooks.get(name, {}),
            **COMMAND_LINE.get(name, {})}


@pytest.fixture(scope="module")
def executed(smoke_profile_path, smoke_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("analyses")
    for name in ANALYSES:
        notebook.execute(name, _params(name, smoke_profile_path, smoke_runs, out), build_dir=out / "build")
    return out


def test_eps_curve_at_zero_is_the_clean_accuracy(executed, smoke_profile_path, smoke_runs):
    prof = load_profile(smoke_profile_path)
    table = pd.read_csv(executed / "tables" / "eps_curves.csv", index_col=["experiment", "defense"])
    n = prof.notebooks["eps_curves"]["n_examples"]
    for experiment in ("mnist_linf", "mnist_l2"):
        x, y = runs.held_out(prof, experiment, n)
        model, _ = runs.trained_model(smoke_runs, "smoke", experiment, "pgd_at")
        with torch.no_grad():
            clean = 100.0 * (model(x).argmax(1) == y).float().mean().item()
        assert table.loc[(experiment, "pgd_at"), "eps 0"] == pytest.approx(clean, abs=0.01)
    assert "pgd_at_seed1" not in table.index.get_level_values("defense")   # one curve per defense
    assert (executed / "figures" / "eps_curves.png").stat().st_size > 1000


def test_eps_curves_part_way_draws_the_trained_defenses_and_names_the_rest(smoke_profile_path, smoke_runs, tmp_path):
    """A profile part-way through its pipeline (a defense not trained yet: no last.pt) still gets its curves: the
    trained defenses, and a note under the table naming the one left out."""
    import shutil

    runs_dir = tmp_path / "runs"
    shutil.copytree(smoke_runs / "smoke" / "mnist_linf", runs_dir / "smoke" / "mnist_linf")
    (runs_dir / "smoke" / "mnist_linf" / "trades" / "last.pt").unlink()
    params = {**_params("eps_curves", smoke_profile_path, runs_dir, tmp_path), "experiments": {"mnist_linf": [0.0, 0.3]}}
    notebook.execute("eps_curves", params, build_dir=tmp_path / "build")
    table = pd.read_csv(tmp_path / "tables" / "eps_curves.csv", index_col=["experiment", "defense"])
    drawn = set(table.index.get_level_values("defense"))
    assert "trades" not in drawn and {"pgd_at", "atent_linf"} <= drawn
    note = (tmp_path / "tables" / "eps_curves.md").read_text().split("Not in this table yet (training not run): ")[1]
    assert "mnist_linf/trades" in note and "pgd_at" not in note


def test_figS1_reads_the_last_epoch_of_metrics_csv(executed, smoke_runs):
    table = pd.read_csv(executed / "tables" / "figS1_training_curves.csv", index_col="run")
    last = pd.concat(pd.read_csv(smoke_runs / "smoke" / "mnist_linf" / d / "metrics.csv").tail(1)
                     for d in ("pgd_at", "pgd_at_seed1"))
    assert table.loc["mnist_linf/pgd_at", "last_val_robust"] == pytest.approx(last["val_robust"].mean(), abs=0.01)
    assert {"mnist_linf/atent_linf", "mnist_l2/atent_l2", "mnist_l2/pgd_at"} <= set(table.index)
    # the plateau, recomputed from the curves: the mean over seeds against twice the monitor's binomial noise
    from atentlib.report import plateau_epoch

    curves = [pd.read_csv(smoke_runs / "smoke" / "mnist_linf" / d / "metrics.csv") for d in ("pgd_at", "pgd_at_seed1")]
    mean = (curves[0]["val_robust"] + curves[1]["val_robust"]) / 2
    n_val = json.loads((smoke_runs / "smoke" / "mnist_linf" / "pgd_at" / "run.json").read_text())["validation"]["monitored"]
    level = mean.iloc[-3:].mean() / 100
    expected = plateau_epoch(list(mean), 2 * 100 * (level * (1 - level) / n_val) ** 0.5)
    got = table.loc["mnist_linf/pgd_at", "plateau_epoch"]
    assert (pd.isna(got) and expected is None) or got == expected
    for e in ("mnist_linf", "mnist_l2"):
        assert (executed / "figures" / f"figS1_training_curves_{e}.png").stat().st_size > 1000


def test_tableS3_has_both_attacks_at_every_radius(executed, smoke_profile_path, smoke_runs):
    """Every cell is the accuracy of the run's model under that attack, recomputed here from the run folder."""
    from atentlib import attacks, evaluate
    from atentlib.threat import Ball

    table = pd.read_csv(executed / "tables" / "tableS3_atent_attack.csv")
    assert sorted(table["eps"].unique()) == [0.1, 0.3] and set(table["defense"]) == {"atent_linf", "sgd"}
    prof = load_profile(smoke_profile_path)
    p = prof.notebooks["tableS3_atent_attack"]
    x, y = runs.held_out(prof, p["experiment"], p["n_examples"])
    for row in table.itertuples():
        model, _ = runs.trained_model(smoke_runs, "smoke", p["experiment"], row.defense)
        step = 2.5 * row.eps / p["steps"]
        torch.manual_seed(p["seed"])
        pgd = evaluate.attack_accuracy(model, x, y, lambda xb, yb: attacks.pgd(model, xb, yb, Ball("linf", row.eps),
                                                                                p["steps"], step))
        torch.manual_seed(p["seed"])
        atent = evaluate.attack_accuracy(model, x, y, lambda xb, yb: attacks.atent_attack(model, xb, yb, row.eps,
                                                                                           p["steps"], step))
        assert (row.pgd20, row.atent20) == pytest.approx((pgd, atent), abs=0.006), row
    assert "paper's Table S3 is CIFAR-10" in (executed / "tables" / "tableS3_atent_attack.md").read_text()


def test_tableS2_certified_accuracy_never_rises_with_the_radius(executed):
    table = pd.read_csv(executed / "tables" / "tableS2_smoothing.csv", index_col="defense")
    assert list(table.index) == ["sgd", "entropy_sgd", "pgd_at", "trades", "mma", "atent_l2"]
    assert (table["r = 0"] >= table["r = 0.2"]).all()
    metrics = json.loads((executed / "metrics" / "tableS2_smoothing.json").read_text())
    # the largest certifiable radius: sigma * Phi^-1(alpha ** (1/n)), n = 50 and alpha = 0.01 in the smoke profile
    assert metrics["radius_ceiling"] == pytest.approx(0.25 * norm.ppf(0.01 ** (1 / 50)), abs=1e-4)


@pytest.mark.parametrize("name", ANALYSES)
def test_analysis_notebooks_pass_nbval(name, smoke_profile_path, smoke_runs, tmp_path):
    nb = notebook.to_ipynb(name, tmp_path / f"{name}.ipynb", _params(name, smoke_profile_path, smoke_runs, tmp_path))
    run_nbval(nb, tmp_path)


def test_ablations_read_K_and_gamma_from_the_run_configs(executed, smoke_runs):
    table = pd.read_csv(executed / "tables" / "ablations_gamma_K.csv", index_col="defense")
    assert table.loc["atent_K1", "K"] == 1 and table.loc["atent_gamma10", "gamma"] == 10.0
    assert table.loc["atent_gamma10", "radius"] == 0.1
    run = json.loads((smoke_runs / "smoke" / "mnist_linf_ablation" / "atent_K2" / "run.json").read_text())
    assert table.loc["atent_K2", "seconds_per_epoch"] == pytest.approx(run["seconds_per_epoch"][0], abs=1e-6)


def test_act_transfer_diagonal_is_the_white_box_attack(executed, smoke_profile_path, smoke_runs):
    from atentlib import attacks
    from atentlib.threat import Ball

    prof = load_profile(smoke_profile_path)
    p = prof.notebooks["act_analyses"]
    matrix = pd.read_csv(executed / "tables" / "act_transfer.csv", index_col="surrogate")
    assert list(matrix.index) == list(matrix.columns) and "pgd_at_seed1" not in matrix.index
    x, y = runs.held_out(prof, "mnist_linf", p["n_transfer"])
    model, _ = runs.trained_model(smoke_runs, "smoke", "mnist_linf", "sgd")
    torch.manual_seed(p["seed"])
    x_adv = attacks.pgd(model, x, y, Ball("linf", 0.3), p["transfer_steps"], 2.5 * 0.3 / p["transfer_steps"])
    with torch.no_grad():
        white = 100.0 * (model(x_adv).argmax(1) == y).float().mean().item()
    assert matrix.loc["sgd", "sgd"] == pytest.approx(white, abs=0.01)
    minimal = pd.read_csv(executed / "tables" / "act_minimal_perturbation.csv", index_col="defense")
    assert (minimal["mean"].dropna() > 0).all()


def test_ambiguities_compare_each_reading_with_the_reference_over_its_seeds(executed, smoke_runs):
    table = pd.read_csv(executed / "tables" / "ambiguities.csv", index_col="variant")
    def pgd20(run):
        res = json.loads((smoke_runs / "smoke" / "mnist_linf_ambiguity" / run / "eval.json").read_text())
        return res["checkpoints"]["last"]["attacks"]["pgd20"]["accuracy"]
    ref = [pgd20("authors_code"), pgd20("authors_code_seed1")]
    raw = [pgd20("raw_step"), pgd20("raw_step_seed1")]
    assert table.loc["raw_step", "change"] == "step_direction: sign -> raw"
    assert table.loc["authors_code", "change"] == "reference"
    assert table.loc["raw_step", "pgd20 mean"] == pytest.approx(sum(raw) / 2, abs=1e-3)
    assert table.loc["raw_step", "pgd20 minus_reference"] == pytest.approx(sum(raw) / 2 - sum(ref) / 2, abs=1e-3)
    assert table.loc["raw_step", "pgd20 seeds"] == 2
    assert (executed / "figures" / "ambiguities.png").exists()


def test_finetune_starts_from_the_benign_model_and_tables_all_four(executed, smoke_runs):
    table = pd.read_csv(executed / "tables" / "finetune.csv", index_col="model")
    assert list(table.index) == ["benign start", "from scratch", "fine-tuned atent_linf", "fine-tuned pgd_at"]
    run = json.loads((smoke_runs / "smoke" / "mnist_linf_finetune" / "atent_linf" / "run.json").read_text())
    assert run["init_from"]["path"].endswith("mnist_linf/sgd/checkpoint.pt")
    sgd = json.loads((smoke_runs / "smoke" / "mnist_linf" / "sgd" / "eval.json").read_text())["checkpoints"]["last"]
    assert table.loc["benign start", "pgd20"] == pytest.approx(sgd["attacks"]["pgd20"]["accuracy"], abs=0.01)


def test_cifar_table_without_the_files_says_so_and_shows_the_paper_only(executed):
    md = (executed / "tables" / "table3_cifar_linf.md").read_text()
    assert "OURS NOT RUN" in md and "the real files are not in" in md and "Nothing stands in" in md
    assert "57.23" in md   # the paper's ATENT PGD-20 is still there, labelled
    metrics = json.loads((executed / "metrics" / "table3_cifar_linf.json").read_text())
    assert metrics["status"] == "not run: CIFAR-10 missing"
    assert (executed / "figures" / "table3_cifar_linf.png").stat().st_size > 1000


def test_act_alpha_reads_alpha_from_the_configs_and_keeps_the_paper_rows(executed, smoke_runs):
    table = pd.read_csv(executed / "tables" / "act_alpha.csv", index_col="alpha")
    res = json.loads((smoke_runs / "smoke" / "mnist_linf_act_alpha" / "act_alpha0_9" / "eval.json").read_text())
    assert table.loc[0.9, "pgd20 (smoke)"] == pytest.approx(res["checkpoints"]["last"]["attacks"]["pgd20"]["accuracy"],
                                                            abs=0.01)
    assert table.loc[0.9, "pgd20 (paper)"] == 55.12 and pd.isna(table.loc[0.3, "pgd20 (smoke)"])


def test_cifar_notebook_with_its_data_present_trains_evaluates_and_tables_ours(smoke_profile_path, smoke_runs,
                                                                              tmp_path):
    """The branch that runs where the real files are, exercised on an experiment whose data the tests have
    (MNIST l2 of the smoke profile, beside Table 1): the notebook is generic in the experiment."""
    params = {**_params("cifar_tables", smoke_profile_path, smoke_runs, tmp_path),
              "experiment": "mnist_l2", "table_name": "table1_mnist_l2"}
    notebook.execute("cifar_tables", params, build_dir=tmp_path / "build")
    metrics = json.loads((tmp_path / "metrics" / "table1_mnist_l2.json").read_text())
    assert metrics["status"] == "ok"
    table = pd.read_csv(tmp_path / "tables" / "table1_mnist_l2.csv", index_col="defense")
    res = json.loads((smoke_runs / "smoke" / "mnist_l2" / "atent_l2" / "eval.json").read_text())["checkpoints"]["last"]
    assert table.loc["atent_l2", "natural (smoke)"] == pytest.approx(res["natural"], abs=0.01)
    assert table.loc["atent_l2", "PGD-40 (paper)"] == 77.21
    assert "OURS NOT RUN" not in (tmp_path / "tables" / "table1_mnist_l2.md").read_text()
