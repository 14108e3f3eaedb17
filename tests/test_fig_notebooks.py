"""The figure notebooks (Figure 2: 1-D sampling; Figure 1: t-SNE boundaries) run under papermill with the smoke
profile, write their figures and metrics, and pass nbval."""
from __future__ import annotations

import json

import pytest
import yaml

from atentlib import notebook
from atentlib.langevin1d import X_PAPER, BumpyLoss, exact_expected_loss

from .conftest import run_nbval

FIGS = ("fig2_sampling_1d", "fig1_tsne_boundaries")


def _params(name, smoke_profile_path, out):
    """The smoke profile's own notebooks section, as `python -m atentlib notebook` injects it, plus tmp dirs."""
    section = yaml.safe_load(smoke_profile_path.read_text())["notebooks"][name]
    return {**section, "profile": str(smoke_profile_path), "figures_dir": str(out / "figures"),
            "tables_dir": str(out / "tables"), "metrics_dir": str(out / "metrics")}


@pytest.fixture(scope="module")
def executed(smoke_profile_path, tmp_path_factory):
    """Each notebook executed once with the smoke profile: {name: output folder}."""
    outs = {}
    for name in FIGS:
        out = tmp_path_factory.mktemp(name)
        notebook.execute(name, _params(name, smoke_profile_path, out), build_dir=out / "build")
        outs[name] = out
    return outs


def _figure_written(out, name):
    for ext in ("png", "pdf"):
        assert (out / "figures" / f"{name}.{ext}").stat().st_size > 5000, ext


def test_fig2_outputs(executed):
    out = executed["fig2_sampling_1d"]
    _figure_written(out, "fig2_sampling_1d")
    assert (out / "build" / "fig2_sampling_1d.ipynb").exists()
    m = json.loads((out / "metrics" / "fig2_sampling_1d.json").read_text())
    assert m["profile"] == "smoke" and m["n_chains"] == 400 and m["x"] == X_PAPER
    s1 = m["sigma_1"]
    assert 0 < s1["ks_statistic"] < 1 and 0 <= s1["ks_pvalue"] <= 1
    assert s1["exact_expected_loss"] == pytest.approx(exact_expected_loss(X_PAPER, 1.0, BumpyLoss()), abs=1e-5)
    # sigma = 0.3 samples the tempered density: far closer to it than to p (KS ~0.05 against ~0.3 here)
    t = m["tempered"]["sigma_0.3"]
    assert t["ks_statistic_vs_tempered"] < 0.5 * t["ks_statistic_vs_p"]
    assert t["exact_expected_loss_tempered"] > s1["exact_expected_loss"]  # a colder chain sits higher on L
    assert set(m["step_bias_ks"]) == {"0.1", "0.05"} and 0 < m["ks_noise_floor"] < 0.1


def test_fig1_outputs(executed):
    out = executed["fig1_tsne_boundaries"]
    _figure_written(out, "fig1_tsne_boundaries")
    m = json.loads((out / "metrics" / "fig1_tsne_boundaries.json").read_text())
    assert m["profile"] == "smoke" and m["digits"] == [5, 8] and m["eps"] == 0.3
    assert m["n_train"] > 10 and m["n_test"] > 4 and m["n_embed"] == m["n_test"]
    for d in ("sgd", "pgd_at", "atent_linf"):
        assert 0 <= m[d]["robust"] <= 100 and 0 <= m[d]["natural"] <= 100
        assert 50 <= m[d]["map_fidelity"] <= 100 and m[d]["epochs"] == 2
    assert m["sgd"]["natural"] >= 80  # the synthetic 5 and 8 bars are easy to tell apart


@pytest.mark.parametrize("name", FIGS)
def test_passes_nbval(name, smoke_profile_path, tmp_path):
    nb = notebook.to_ipynb(name, tmp_path / f"{name}.ipynb", _params(name, smoke_profile_path, tmp_path))
    out = run_nbval(nb, tmp_path)
    assert " passed" in out.stdout
