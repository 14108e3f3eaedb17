"""dvc.yaml is the study's table of contents: one stage per experiment of the profile, one per notebook."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from atentlib.config import load_profile
from atentlib.optional_data import OPTIONAL_DATASETS
from atentlib.study_index import expand_stages, notebook_stages

ROOT = Path(__file__).resolve().parents[1]


def _dvc() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def _stages() -> dict:
    """dvc.yaml's stages, foreach groups expanded as DVC expands them."""
    return expand_stages(_dvc()["stages"])


def _cmds(stage: dict) -> list[str]:
    """A stage's command lines (cmd may be a string or a list; an unexpanded foreach keeps its under do)."""
    cmd = stage.get("cmd") or stage.get("do", {}).get("cmd", "")
    return cmd if isinstance(cmd, list) else [cmd]


def _run_stage_experiments() -> list[str]:
    return [m.group(1) for s in _stages().values() for c in _cmds(s)
            for m in [re.search(r"atentlib run --profile \$\{profile\} --experiment (\S+)", c)] if m]


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_experiment_of_the_profile_is_run_by_exactly_one_stage(profile):
    """The runs come from the profile: one stage per experiment on offline data, none for an unknown one."""
    prof = load_profile(profile)
    wanted = sorted(e for e, exp in prof.experiments.items() if exp.dataset not in OPTIONAL_DATASETS)
    assert sorted(_run_stage_experiments()) == wanted


def test_run_stages_list_no_run_of_their_own():
    """No stage names a defense: adding a defense or a seed to the profile must not need an edit of dvc.yaml."""
    text = (ROOT / "dvc.yaml").read_text()
    assert "--defense" not in text and "_seed" not in text


def test_stage_expansion_matches_dvc(tmp_path):
    """expand_stages names and fills foreach stages exactly as DVC does (checked against `dvc stage list`)."""
    import shutil
    import subprocess

    dvc = shutil.which("dvc")
    if dvc is None:
        pytest.skip("dvc is not installed")
    out = subprocess.run([dvc, "stage", "list", "--name-only"], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == list(_stages())


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_experiment_on_optional_data_has_a_notebook_stage(profile):
    """CIFAR-10 experiments are not train stages (they would fail offline): a notebook stage runs each one."""
    cmds = [c for s in _stages().values() for c in _cmds(s)]
    prof = load_profile(profile)
    for e, exp in prof.experiments.items():
        if exp.dataset in OPTIONAL_DATASETS:
            assert any(f"-p experiment {e} " in c + " " for c in cmds), f"no notebook stage runs experiment {e}"


def test_every_notebook_stage_names_an_existing_notebook():
    for name, stage in _stages().items():
        cmd = " ".join(_cmds(stage))
        if " notebook " in cmd:
            nb = cmd.split(" notebook ")[1].split()[0]
            assert (ROOT / "notebooks" / f"{nb}.py").exists(), f"stage {name}: notebooks/{nb}.py is missing"


def test_figures_index_lists_every_figure_with_its_notebook(tmp_path):
    from atentlib.study_index import build_index

    out = tmp_path / "figures"
    out.mkdir()
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    prof = load_profile("quick")
    md = build_index(prof, tmp_path / "dvc.yaml", ROOT / "notebooks", out)
    stages = notebook_stages(ROOT / "dvc.yaml")
    assert {s["notebook"] for s in stages} >= {"table1_mnist_l2", "table2_mnist_linf", "eps_curves", "tableS2_smoothing"}
    for s in stages:
        assert f"`notebooks/{s['notebook']}.py`" in md
        for o in s["outs"]:
            if o.startswith("figures/") and o.endswith(".png"):   # shown inline, linked relative to figures/
                assert f"]({o.removeprefix('figures/')})" in md
    n = prof.notebooks["tableS3_atent_attack"]["n_examples"]   # a notebook parameter, shown beside its figure
    assert f"`n_examples` = `{n}`" in md and "not a reproduction" in md


def test_figures_index_puts_the_converged_tables_first_in_full(tmp_path):
    """The converged pipeline's tables lead the index, written out in full; a stage that has not run says so."""
    from atentlib.study_index import build_index

    (tmp_path / "figures").mkdir()
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (tmp_path / "pipelines" / "converged").mkdir(parents=True)
    lead_yaml = tmp_path / "pipelines" / "converged" / "dvc.yaml"
    lead_yaml.write_text((ROOT / "pipelines" / "converged" / "dvc.yaml").read_text())
    table = tmp_path / "tables" / "converged" / "table2_mnist_linf.md"
    table.parent.mkdir(parents=True)
    table.write_text("| defense | pgd20 (converged) | PGD-20 (paper) |\n|:--|--:|--:|\n| pgd_at | 95.10 | 96.01 |\n")
    md = build_index(load_profile("quick"), tmp_path / "dvc.yaml", ROOT / "notebooks", tmp_path / "figures",
                     lead=[(load_profile("converged"), lead_yaml)])
    first_converged, first_quick = md.index("## The `converged` profile"), md.index("## The `quick` profile")
    assert first_converged < first_quick
    assert md.index("| pgd_at | 95.10 | 96.01 |") < first_quick          # the table itself, before the tour
    assert "Not made yet: stage `verdict`" in md[:first_quick]           # the verdict has not run here
    assert "Not made yet: stage `table2_mnist_linf`" not in md


def test_train_help_lists_every_defense_and_its_parameters(capsys):
    from atentlib.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for kind in ("sgd", "entropy_sgd", "pgd_at", "trades", "mart", "mma", "act", "atent_linf", "atent_l2"):
        assert f"\n  {kind}: " in text
    for field in ("mu_grad_cutoff = 0.0", "outer_gradient = 'unscaled'", "beta = 6.0", "early_stopping_patience = None"):
        assert field in text


def test_the_paper_profile_runs_an_attack_for_every_column_the_papers_report():
    from atentlib.report import paper_numbers

    profile = load_profile("paper")
    checked = 0
    for st in notebook_stages(ROOT / "dvc.yaml"):
        experiment = st["overrides"].get("experiment")
        if experiment is None:
            continue
        table = st["overrides"].get("table_name", st["notebook"])
        try:
            columns = paper_numbers(table).get("columns", {})
        except KeyError:
            continue  # a notebook without a table of the papers' numbers (audits)
        attacks = {a.name for a in profile.experiments[experiment].evaluation.attacks}
        missing = set(columns) - {"natural"} - attacks
        assert not missing, f"{table}: the paper reports {sorted(missing)} but {experiment} does not run them"
        checked += 1
    assert checked == 4  # Tables 1, 2, 3 and S1


def _atentlib_modules_used(source: str) -> set[str]:
    """The atentlib modules a notebook imports: `from atentlib import a, b`, `from atentlib.c import ...`."""
    used: set[str] = set()
    for names in re.findall(r"from atentlib import ([\w, ]+)", source):
        used |= {n.strip() for n in names.split(",") if n.strip()}
    used |= set(re.findall(r"from atentlib\.(\w+) import", source))
    return used


PIPELINES = [ROOT / "dvc.yaml", ROOT / "pipelines" / "converged" / "dvc.yaml"]


@pytest.mark.parametrize("pipeline", PIPELINES, ids=["quick", "converged"])
def test_every_notebook_stage_depends_on_the_atentlib_modules_its_notebook_imports(pipeline):
    """So that changing one of them reruns the stage. config is left out: the stage's params carry the values."""
    stages = expand_stages(yaml.safe_load(pipeline.read_text())["stages"])
    for st in notebook_stages(pipeline):
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stages[st["stage"]].get("deps", [])]
        used = _atentlib_modules_used((ROOT / "notebooks" / f"{st['notebook']}.py").read_text()) - {"config"}
        missing = {m for m in used if f"atentlib/{m}.py" not in deps and f"atentlib/{m}" not in deps
                   and "atentlib" not in deps}
        assert not missing, f"stage {st['stage']}: notebooks/{st['notebook']}.py imports atentlib {sorted(missing)}"


def test_the_converged_models_travel_with_git_and_the_resume_state_stays_local():
    """A fresh clone has no DVC cache: the converged runs' models (last.pt, best.pt), curves and results must be
    git-tracked outputs (cache: false) or the next machine retrains hours of runs; checkpoint.pt, the state to
    resume from, is three times larger and stays out of git and out of the outputs. Resume needs persist."""
    import subprocess

    pipe = yaml.safe_load(PIPELINES[1].read_text())
    for name, stage in pipe["stages"].items():
        body = stage.get("do", stage)
        outs = {next(iter(o)): o[next(iter(o))] for o in body.get("outs", []) if isinstance(o, dict)}
        if not name.startswith("train_"):
            continue
        files = {Path(path).name for path in outs}
        assert {"last.pt", "last.pt.sha256", "best.pt", "best.pt.sha256", "run.json", "metrics.csv"} <= files, name
        assert "checkpoint.pt" not in files, name
        for path, flags in outs.items():
            assert flags.get("cache") is False, f"{name}: {path} would live in the DVC cache only"
            if path.endswith(".pt") or path.endswith(".sha256"):
                assert flags.get("persist") is True, f"{name}: {path} deleted before a resumed run"
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "runs/converged/mnist_linf/pgd_at/checkpoint.pt",
                              "runs/converged/mnist_linf/pgd_at/last.pt"], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == ["runs/converged/mnist_linf/pgd_at/checkpoint.pt"]


def test_the_converged_pipeline_trains_evaluates_and_audits_the_profiles_own_lists():
    """Its run lists are the converged profile's defenses and audit_defenses (foreach over them), each command
    runs the experiment its stage is named for, and every output lies under the converged profile's folders."""
    pipe = yaml.safe_load(PIPELINES[1].read_text())
    assert pipe["vars"] == ["../../params/converged.yaml"]
    prof = load_profile("converged")
    for name, stage in pipe["stages"].items():
        assert stage.get("wdir", stage.get("do", {}).get("wdir")) == "../..", name   # commands run from the root
        body = stage.get("do", stage)
        if "foreach" in stage:
            m = re.fullmatch(r"\$\{experiments\.(\w+)\.(defenses|audit_defenses)\}", stage["foreach"])
            assert m and m.group(1) in prof.experiments, name
            assert f"--experiment {m.group(1)} " in body["cmd"], name
        for out in body.get("outs", []) + body.get("metrics", []):
            path = next(iter(out)) if isinstance(out, dict) else out
            assert path.split("/")[1] == "converged", f"{name} writes {path} outside the converged folders"
    for e, exp in prof.experiments.items():
        for kind in ("train", "evaluate", "audit"):
            assert any(f"{kind} --" in c or (kind == "evaluate" and "evaluate --profile" in c)
                       for st in pipe["stages"].values() for c in _cmds(st)
                       if f"--experiment {e} " in c), (kind, e)


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_every_parameter_a_stage_names_is_in_the_profile(profile):
    """DVC stops before running anything when a stage's params key is missing from the active profile."""
    raw = yaml.safe_load((ROOT / "params" / f"{profile}.yaml").read_text())
    for name, stage in _stages().items():
        for entry in stage.get("params", []):
            for keys in (entry.values() if isinstance(entry, dict) else [[entry]]):
                for key in keys:
                    node = raw
                    for part in key.split("."):
                        assert isinstance(node, dict) and part in node, f"stage {name}: {key} not in {profile}"
                        node = node[part]


def test_a_pipeline_with_a_stage_per_run_sees_every_run_of_its_profile():
    """DVC's foreach reads the profile as written: a `seeds:` list there would silently drop the further seeds'
    stages, so such a profile writes its seed runs out (the converged pipeline)."""
    pipe = yaml.safe_load(PIPELINES[1].read_text())
    raw = yaml.safe_load((ROOT / "params" / "converged.yaml").read_text())
    prof = load_profile("converged")
    for stage in pipe["stages"].values():
        m = re.fullmatch(r"\$\{experiments\.(\w+)\.defenses\}", str(stage.get("foreach", "")))
        if m:
            assert list(raw["experiments"][m.group(1)]["defenses"]) == list(prof.experiments[m.group(1)].defenses)


def _library_modules_reached(start: list[str]) -> set[str]:
    """The atentlib modules that importing `start` runs, read from the source (tests/test_layers.py's graph)."""
    from tests.test_layers import import_graph, module_names

    graph = import_graph({name: path.read_text() for name, path in module_names().items()})
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph[name]
    return seen


def _covered(module_path: str, deps: set[str]) -> bool:
    """Whether a dep names the module's file, the module's package folder or a folder above it."""
    return f"{module_path}.py" in deps or any(module_path == d or module_path.startswith(d + "/") for d in deps)


def test_the_run_stages_depend_on_every_module_a_run_executes():
    """A run's numbers come from the code `python -m atentlib run` reaches (experiment -> train, evaluate, and all
    they import): each of those modules is a dep of every run stage, so that changing one reruns the runs. The
    config modules are left out: the stage's params carry the values."""
    stages = expand_stages(_dvc()["stages"])
    reached = _library_modules_reached(["experiment", "train", "evaluate"]) - {"config", "config_base", "config_eval"}
    run_stages = [n for n in stages if n.startswith("run@") or n == "run_finetune"]
    assert len(run_stages) >= 7
    for name in run_stages:
        deps = {d if isinstance(d, str) else next(iter(d)) for d in stages[name]["deps"]}
        missing = {m for m in reached if not _covered(f"atentlib/{m.replace('.', '/')}", deps)}
        assert not missing, f"{name} does not depend on atentlib {sorted(missing)}"
