"""The verdict notebook on FABRICATED evaluation files (made here, never reported): its table holds the means over
seeds and the McNemar counts recomputed from the per-digit records, and its findings name the AutoAttack result."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from atentlib import notebook
from atentlib.scoring import encode_correct

from .conftest import PARAMS_DIR

N = 60


def _bits(rng, acc):
    return rng.random(N) < acc


def _eval(rng, nat, attacks):
    natural = _bits(rng, nat)
    out = {"n_examples": N, "natural": 100 * natural.mean(), "natural_correct": encode_correct(natural), "attacks": {}}
    for name, acc in attacks.items():
        c = _bits(rng, acc) & natural
        out["attacks"][name] = {"accuracy": 100 * c.mean(), "n_examples": N, "correct": encode_correct(c)}
    return {"checkpoints": {"last": {**out, "epoch": 3}}}


def _fab_profile(root):
    raw = yaml.safe_load((PARAMS_DIR / "smoke.yaml").read_text())
    keep = {"mnist_linf": ["pgd_at", "pgd_at_seed1", "atent_linf"], "mnist_l2": ["pgd_at", "atent_l2"]}
    raw["experiments"] = {e: raw["experiments"][e] for e in keep}
    for e, names in keep.items():
        defs = raw["experiments"][e]["defenses"]
        # the seed runs are written out here (a defense's own seeds list would make them a second time)
        base = {n: {k: v for k, v in defs[n].items() if k != "seeds"} for n in names if n in defs}
        atent = names[-1]
        base[f"{atent}_seed1"] = {**base[atent], "train": {"seed": 1}}
        base.setdefault("pgd_at_seed1", {**base["pgd_at"], "train": {"seed": 1}})
        raw["experiments"][e]["defenses"] = base
        raw["experiments"][e]["audit_defenses"] = []
    raw["profile"] = "fab"
    profile = root / "fab.yaml"
    profile.write_text(yaml.safe_dump(raw, sort_keys=False))
    return profile


def _run_notebook(root, profile):
    notebook.execute("verdict", {"profile": str(profile), "runs_dir": str(root / "runs"),
                                 "figures_dir": str(root / "figures"), "tables_dir": str(root / "tables"),
                                 "metrics_dir": str(root / "metrics")}, build_dir=root / "build")


@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    profile = _fab_profile(root)
    rng = np.random.default_rng(0)
    files = {}
    for e, attack in (("mnist_linf", "pgd20"), ("mnist_l2", "pgd40")):
        atent = "atent_linf" if e == "mnist_linf" else "atent_l2"
        for d, acc in ((atent, 0.8), (f"{atent}_seed1", 0.75), ("pgd_at", 0.6), ("pgd_at_seed1", 0.65)):
            ev = _eval(rng, 0.95, {attack: acc})
            run = root / "runs" / "fab" / e / d
            run.mkdir(parents=True)
            (run / "eval.json").write_text(json.dumps(ev))
            files[(e, d)] = ev
            if e == "mnist_linf" or "seed" not in d:   # linf: both seed pairs audited; l2: seed 0 alone
                audit = _eval(rng, 0.95, {"autoattack": acc - 0.1})
                (run / "audit.json").write_text(json.dumps(audit))
                files[(e, d, "audit")] = audit
    _run_notebook(root, profile)
    return root, files


def test_verdict_table_is_recomputed_from_the_evaluation_files(fabricated):
    root, files = fabricated
    table = pd.read_csv(root / "tables" / "verdict.csv", index_col=["experiment", "attack"])
    def acc(d):
        return files[("mnist_linf", d)]["checkpoints"]["last"]["attacks"]["pgd20"]["accuracy"]
    row = table.loc[("mnist_linf", "pgd20")]
    assert row["ATENT"] == pytest.approx((acc("atent_linf") + acc("atent_linf_seed1")) / 2, abs=1e-3)
    assert row["PGD-AT"] == pytest.approx((acc("pgd_at") + acc("pgd_at_seed1")) / 2, abs=1e-3)
    a = "".join(files[("mnist_linf", d)]["checkpoints"]["last"]["attacks"]["pgd20"]["correct"]
                for d in ("atent_linf", "atent_linf_seed1"))
    b = "".join(files[("mnist_linf", d)]["checkpoints"]["last"]["attacks"]["pgd20"]["correct"]
                for d in ("pgd_at", "pgd_at_seed1"))
    assert row["only ATENT keeps"] == sum(x == "1" and y == "0" for x, y in zip(a, b))
    assert row["only PGD-AT keeps"] == sum(x == "0" and y == "1" for x, y in zip(a, b))
    aa = table.loc[("mnist_l2", "autoattack")]
    ours = files[("mnist_l2", "atent_l2", "audit")]["checkpoints"]["last"]["attacks"]["autoattack"]["accuracy"]
    assert aa["ATENT"] == pytest.approx(ours, abs=1e-3) and aa["digits"] == N and aa["seeds"] == "1/2"
    assert pd.isna(aa["low"])   # one audited pair: no interval over seeds


def test_autoattack_row_averages_every_audited_seed_pair_and_pools_their_digits(fabricated):
    root, files = fabricated
    row = pd.read_csv(root / "tables" / "verdict.csv", index_col=["experiment", "attack"]).loc[("mnist_linf", "autoattack")]

    def audit(d):
        return files[("mnist_linf", d, "audit")]["checkpoints"]["last"]["attacks"]["autoattack"]
    a, b = ("atent_linf", "atent_linf_seed1"), ("pgd_at", "pgd_at_seed1")
    assert row["seeds"] == "2/2"
    assert row["ATENT"] == pytest.approx(np.mean([audit(d)["accuracy"] for d in a]), abs=1e-3)
    assert row["PGD-AT"] == pytest.approx(np.mean([audit(d)["accuracy"] for d in b]), abs=1e-3)
    bits_a, bits_b = "".join(audit(d)["correct"] for d in a), "".join(audit(d)["correct"] for d in b)
    assert row["only ATENT keeps"] == sum(x == "1" and y == "0" for x, y in zip(bits_a, bits_b))
    assert row["only PGD-AT keeps"] == sum(x == "0" and y == "1" for x, y in zip(bits_a, bits_b))
    assert row["low"] <= row["ATENT - PGD-AT"] <= row["high"]   # two pairs: an interval over seeds


def test_verdict_findings_speak_of_autoattack_and_the_paper(fabricated):
    root, _ = fabricated
    metrics = json.loads((root / "metrics" / "verdict.json").read_text())
    assert any(s.startswith("[mnist_l2] AutoAttack (seed 0):") for s in metrics["sentences"])
    assert any(s.startswith("[mnist_linf] AutoAttack (seeds 0, 1):") for s in metrics["sentences"])
    assert (root / "figures" / "verdict.png").stat().st_size > 1000
    # the l2 AutoAttack row has no interval over seeds: their cells stay empty in the Markdown, never "nan"
    md = (root / "tables" / "verdict.md").read_text()
    assert "| autoattack " in md and "nan" not in md


def test_a_verdict_part_way_pairs_what_is_evaluated_and_says_what_is_not(tmp_path):
    """Seed 0 of both and seed 1 of ATENT alone evaluated on linf, nothing on l2, no audit: the table holds the one
    pair (no interval from one seed), the unpaired seed stays out, and the coverage names what is missing."""
    profile = _fab_profile(tmp_path)
    rng = np.random.default_rng(1)
    files = {}
    for d, acc in (("atent_linf", 0.8), ("atent_linf_seed1", 0.2), ("pgd_at", 0.6)):
        run = tmp_path / "runs" / "fab" / "mnist_linf" / d
        run.mkdir(parents=True)
        files[d] = _eval(rng, 0.95, {"pgd20": acc})
        (run / "eval.json").write_text(json.dumps(files[d]))
    _run_notebook(tmp_path, profile)
    table = pd.read_csv(tmp_path / "tables" / "verdict.csv", index_col=["experiment", "attack"])
    assert set(table.index.get_level_values("experiment")) == {"mnist_linf"}
    row = table.loc[("mnist_linf", "pgd20")]
    ours = {d: f["checkpoints"]["last"]["attacks"]["pgd20"]["accuracy"] for d, f in files.items()}
    assert row["ATENT"] == pytest.approx(ours["atent_linf"], abs=1e-3)   # seed 1 has no partner: left out
    assert row["PGD-AT"] == pytest.approx(ours["pgd_at"], abs=1e-3) and row["seeds"] == "1/1"
    assert pd.isna(row["low"]) and pd.isna(row["high"])
    metrics = json.loads((tmp_path / "metrics" / "verdict.json").read_text())
    assert metrics["coverage"] == {"mnist_linf": "1 of 2 seed pairs evaluated", "mnist_l2": "0 of 2 seed pairs evaluated"}
    assert "Coverage: mnist_linf 1 of 2 seed pairs evaluated" in (tmp_path / "tables" / "verdict.md").read_text()
