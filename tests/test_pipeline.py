"""dvc.yaml is the study's table of contents: its runs are exactly the profiles' defenses."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from atentlib.config import load_profile

ROOT = Path(__file__).resolve().parents[1]


def _dvc() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_defense_of_the_profile_is_a_train_and_evaluate_stage(profile):
    runs = _dvc()["vars"][0]["runs"]
    prof = load_profile(profile)
    wanted = {f"{e}-{d}" for e, exp in prof.experiments.items() for d in exp.defenses}
    assert set(runs) == wanted
    for key, item in runs.items():
        assert key == f"{item['experiment']}-{item['defense']}"


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_audits_are_the_profiles_audit_defenses(profile):
    audits = _dvc()["vars"][0]["audits"]
    prof = load_profile(profile)
    assert set(audits) == {f"{e}-{d}" for e, exp in prof.experiments.items() for d in exp.audit_defenses}


def test_every_notebook_stage_names_an_existing_notebook():
    for name, stage in _dvc()["stages"].items():
        cmd = stage.get("cmd") or stage.get("do", {}).get("cmd", "")
        if " notebook " in cmd:
            nb = cmd.split(" notebook ")[1].split()[0]
            assert (ROOT / "notebooks" / f"{nb}.py").exists(), f"stage {name}: notebooks/{nb}.py is missing"


def test_figures_index_lists_every_figure_with_its_notebook(tmp_path):
    from atentlib.study_index import build_index, notebook_stages

    out = tmp_path / "figures"
    out.mkdir()
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    md = build_index(load_profile("quick"), tmp_path / "dvc.yaml", ROOT / "notebooks", out)
    stages = notebook_stages(ROOT / "dvc.yaml")
    assert {s["notebook"] for s in stages} >= {"table1_mnist_l2", "table2_mnist_linf", "eps_curves", "tableS2_smoothing"}
    for s in stages:
        assert f"`notebooks/{s['notebook']}.py`" in md
        for o in s["outs"]:
            if o.startswith("figures/") and o.endswith(".png"):   # shown inline, linked relative to figures/
                assert f"]({o.removeprefix('figures/')})" in md
    assert "`n_examples` = `500`" in md and "not a reproduction" in md


def test_train_help_lists_every_defense_and_its_parameters(capsys):
    from atentlib.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for kind in ("sgd", "entropy_sgd", "pgd_at", "trades", "mart", "mma", "act", "atent_linf", "atent_l2"):
        assert f"\n  {kind}: " in text
    for field in ("mu_grad_cutoff = 0.02", "outer_gradient = 'gamma'", "beta = 6.0", "early_stopping_patience = None"):
        assert field in text
