"""The benchmarks (bench/) run in their smallest mode on the CPU and write valid JSON with the expected keys; the
Table S4 notebook turns such JSON into its tables, figure and metrics, with "pending" where no GPU run exists.

Every timing here is a smoke run on synthetic tensors: the tests check plumbing, never speed."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from atentlib import models, notebook, report
from atentlib.config import load_profile

from .conftest import run_nbval

BENCH = Path(__file__).resolve().parent.parent / "bench"
SYNTHETIC = "synthetic random tensors (timing only)"
ENV_KEYS = {"bench", "inputs", "device", "device_name", "torch", "threads", "loadavg_start", "time_utc"}


def _bench_on_path() -> None:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # the benches import their shared helpers as `common`


def _load(name: str):
    _bench_on_path()
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCH / f"bench_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-results")


def _run(name: str, argv: list[str], out: Path) -> dict:
    _load(name).main([*argv, "--device", "cpu", "--warmup", "0", "--out", str(out)])
    record = json.loads(out.read_text())
    assert ENV_KEYS <= set(record), ENV_KEYS - set(record)
    assert record["inputs"] == SYNTHETIC and record["device"] == "cpu" and record["threads"] >= 1
    return record


def _common():
    _bench_on_path()
    import common
    return common


def test_paired_ratio_cancels_what_both_variants_share_and_brackets_the_median():
    common = _common()
    # the machine slows down 3x over the run; b is always 1.04x a in its own round
    a = [0.1 * (1 + 2 * i / 29) for i in range(30)]
    b = [1.04 * t for t in a]
    p = common.paired_ratio({"a": a, "b": b}, "b", "a")
    assert p["median"] == pytest.approx(1.04) and p["ci"] == [pytest.approx(1.04)] * 2 and p["rounds"] == 30
    # noise round by round: the interval contains the median, and is the same on a rerun (seeded)
    gen = torch.Generator().manual_seed(0)
    noisy = [t * (1 + 0.05 * float(torch.randn((), generator=gen))) for t in b]
    q = common.paired_ratio({"a": a, "b": noisy}, "b", "a")
    assert q["ci"][0] < q["median"] < q["ci"][1] and q == common.paired_ratio({"a": a, "b": noisy}, "b", "a")
    assert 0.95 < q["ci"][0] and q["ci"][1] < 1.13
    with pytest.raises(ValueError, match="same non-zero number of rounds"):
        common.paired_ratio({"a": a, "b": b[:-1]}, "b", "a")


def test_verdict_needs_the_whole_interval_on_one_side():
    verdict = _common().verdict
    assert verdict([1.01, 1.04], 1.05) == "met" and verdict([1.06, 1.09], 1.05) == "not met"
    assert verdict([1.03, 1.07], 1.05) == "unresolved"
    assert verdict([1.00, 1.03], 1.0, at_most=False) == "met" and verdict([0.95, 0.99], 1.0, at_most=False) == "not met"
    assert verdict([0.98, 1.02], 1.0, at_most=False) == "unresolved"


def test_count_flops_matches_the_closed_form():
    """Ground truth: a b x n -> m linear layer costs 2bnm in its forward pass, as much again for the input-gradient
    and again for the weight-gradient; a convolution's forward costs 2 x (output elements) x (C_in k_h k_w)."""
    count_flops = _common().count_flops
    b, n, m = 4, 16, 32
    layer = torch.nn.Linear(n, m)
    x = torch.randn(b, n)
    forward = 2 * b * n * m
    assert count_flops(lambda: layer(x)) == forward
    assert count_flops(lambda: layer(x).sum().backward()) == 2 * forward  # weights only: x needs no gradient
    xg = x.clone().requires_grad_(True)
    assert count_flops(lambda: torch.autograd.grad(layer(xg).sum(), xg)) == 2 * forward  # input only
    assert count_flops(lambda: layer(xg).sum().backward()) == 3 * forward  # both
    conv = torch.nn.Conv2d(3, 8, 5)
    img = torch.randn(2, 3, 12, 12)
    assert count_flops(lambda: conv(img)) == 2 * (2 * 8 * 8 * 8) * (3 * 5 * 5)
    assert count_flops(lambda: torch.relu(img) + img) == 0  # elementwise work is not counted


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_atent_step_costs_pgd_at_plus_one_weight_gradient(norm):
    """The samplers' cost claim, checked exactly in arithmetic: one ATENT step (default cutoff: the last two
    iterates add weight-gradients) costs one PGD-AT step at the same K plus ONE weight-gradient; with the last
    iterate only it costs exactly PGD-AT; the exact mu adds K - 1 weight-gradients."""
    count_flops = _common().count_flops
    bench = _load("atent_vs_pgd")
    torch.manual_seed(0)
    model = models.build("lenet5")
    x, y = torch.rand(3, 1, 28, 28), torch.randint(0, 10, (3,))
    K = 4
    flops = {}
    for name, defense in bench.build_variants(norm, K, 2.0 if norm == "l2" else 0.3).items():
        model.zero_grad(set_to_none=True)
        flops[name] = count_flops(lambda: defense.backward(model, x, y, None))

    def one_pass(weights: bool) -> int:
        xr = x.clone().requires_grad_(True)
        wanted = [xr] + (list(model.parameters()) if weights else [])
        return count_flops(lambda: torch.autograd.grad(F.cross_entropy(model(xr), y), wanted))

    weight_gradient = one_pass(True) - one_pass(False)
    assert weight_gradient > 0
    assert flops["atent_last"] == flops["pgd_at"]
    assert flops["atent"] == flops["pgd_at"] + weight_gradient
    assert flops["atent_exact"] == flops["pgd_at"] + (K - 1) * weight_gradient


def test_atent_vs_pgd(bench_dir):
    rec = _run("atent_vs_pgd", ["--norm", "linf", "l2", "--K", "1", "2", "10", "--batch", "2", "--repeats", "1"],
               bench_dir / "atent_vs_pgd.json")
    assert rec["targets"] == {"K": 10, "atent_over_pgd_at": 1.05, "atent_over_K+1_passes": 1.2}
    assert [(r["norm"], r["K"]) for r in rec["results"]] == [(n, K) for n in ("linf", "l2") for K in (1, 2, 10)]
    for r in rec["results"]:
        assert set(r["median_seconds"]) == {"pgd_at", "atent", "atent_exact", "atent_last", "plain_K+1"}
        assert set(r["flops"]) == set(r["median_seconds"]) and all(v > 0 for v in r["flops"].values())
        assert r["flop_ratios"]["atent_over_pgd_at"] == pytest.approx(r["flops"]["atent"] / r["flops"]["pgd_at"])
        assert r["flop_ratios"]["atent_last_over_pgd_at"] == 1.0  # the same passes as PGD-AT
        assert isinstance(r["meets_targets_flops"], bool)
        assert all(v > 0 for v in r["median_seconds"].values())
        for key in ("atent_over_pgd_at", "atent_exact_over_pgd_at", "atent_last_over_pgd_at", "atent_over_K+1_passes"):
            assert r[key] > 0
        assert r["atent_over_pgd_at"] == pytest.approx(r["median_seconds"]["atent"] / r["median_seconds"]["pgd_at"])
        # one round: the round-by-round ratio is the ratio of medians, its interval that single value
        p = r["paired"]["atent_over_pgd_at"]
        assert p["rounds"] == 1 and p["median"] == pytest.approx(r["atent_over_pgd_at"])
        assert p["ci"] == [pytest.approx(p["median"])] * 2
        assert set(r["verdicts"]) == {"atent_over_pgd_at", "atent_over_K+1_passes"}
        assert set(r["verdicts"].values()) <= {"met", "not met", "unresolved"}


def test_attacks(bench_dir):
    rec = _run("attacks", ["--model", "smallcnn", "--norm", "linf", "l2", "--batch", "2", "--steps", "1",
                           "--repeats", "1"], bench_dir / "attacks.json")
    for r in rec["results"]:
        assert "ours" in r["median_seconds"]
        for lib in ("torchattacks", "foolbox"):  # timed when installed, else reported as missing
            assert lib in r["median_seconds"] or lib in r["missing"]
        for name, check in r["checks"].items():
            assert check["in_ball"] and check["in_box"], (r["norm"], name, check)
        if "torchattacks" in r["median_seconds"]:
            assert r["ours_over_torchattacks_throughput"] > 0 and isinstance(r["meets_target"], bool)
            p = r["paired"]["ours_over_torchattacks_throughput"]
            assert p["median"] == pytest.approx(r["ours_over_torchattacks_throughput"])  # one round
            assert r["verdict"] in {"met", "not met", "unresolved"}


def test_certify(bench_dir):
    rec = _run("certify", ["--inputs", "2", "--n0", "2", "--n", "4", "--repeats", "1"], bench_dir / "certify.json")
    assert rec["noisy_images_each"] == 2 * (2 + 4)
    assert set(rec["median_seconds"]) == {"certify", "plain"} and rec["certify_over_plain"] > 0


def test_eval_layout(bench_dir):
    rec = _run("eval_layout", ["--models", "lenet5", "--digits", "4", "--batches", "4", "2", "--steps", "1",
                               "--repeats", "1"], bench_dir / "eval_layout.json")
    (row,) = rec["results"]
    assert set(row["median_seconds"]) == {"default_4", "default_2", "cl_4", "cl_2"}
    assert row["speedup"] == pytest.approx(row["median_seconds"]["default_4"] / row["median_seconds"]["cl_2"])
    assert row["ms_per_digit"]["cl_2"] == pytest.approx(1000 * row["median_seconds"]["cl_2"] / 4)


def test_epoch_time(bench_dir):
    rec = _run("epoch_time", ["--steps", "1", "--batch", "2", "--K", "1", "--attack-steps", "1",
                              "--defenses", "atent", "pgd_at"], bench_dir / "epoch_time.json")
    assert rec["mode"].startswith("smoke") and "extrapolat" in rec["extrapolation"]
    assert {(r["config"], r["defense"], r["K"]) for r in rec["results"]} == {
        (c, d, 1) for c in ("linf_wrn34_10", "l2_resnet20") for d in ("atent", "pgd_at")}
    for r in rec["results"]:
        assert r["steps_per_epoch"] == 25_000 and r["epoch_seconds_extrapolated"] and not r["paper_setup"]
        assert r["epoch_seconds"] == pytest.approx(r["median_step_seconds"] * 25_000)
        assert r["dtype"] == "float32" and r["peak_memory_bytes"] is None  # CPU: no autocast, no GPU memory
        assert "target_epoch_seconds" not in r  # the target is for ATENT at K = 10 only
    assert rec["configs"]["l2_resnet20"]["ratios"]["atent_over_pgd_at_K1"] > 0


def _fake_gpu_epoch(cpu_record: dict) -> dict:
    """A FABRICATED GPU record (test fixture, numbers made up) holding only the l2 configuration at the paper's
    set-up, so that one notebook run shows filled l2 rows and pending linf rows."""
    rows = [{"config": "l2_resnet20", "norm": "l2", "model": "resnet20", "defense": d, "K": K, "batch": 256,
             "steps_per_epoch": 196, "measured_steps": 5, "median_step_seconds": s, "epoch_seconds": s * 196,
             "epoch_seconds_extrapolated": True, "paper_setup": True, "peak_memory_bytes": 3 * 2**30,
             "dtype": "bfloat16"} for d, K, s in (("atent", 10, 0.5), ("atent", 5, 0.27), ("pgd_at", 10, 0.45))]
    rows[0].update(target_epoch_seconds=20.0, target_device="H100")  # as the bench records ATENT K=10
    return {**cpu_record, "device": "cuda", "device_name": "TEST GPU (fabricated fixture)", "mode": "measured",
            "configs": {"l2_resnet20": {"norm": "l2", "batch": 256, "ratios": {"atent_over_pgd_at_K10": 0.5 / 0.45}}},
            "results": rows}


def _params(bench: Path, out: Path, profile: Path, runs: Path) -> dict:
    return {"profile": str(profile), "bench_dir": str(bench), "runs_dir": str(runs),
            "figures_dir": str(out / "figures"), "tables_dir": str(out / "tables"), "metrics_dir": str(out / "metrics")}


def test_tableS4_notebook(bench_dir, tmp_path, smoke_profile_path, smoke_runs):
    """Runs after the benches above (same module): their JSON plus a fabricated GPU epoch record, and the smoke
    runs' recorded seconds per epoch."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "atent_vs_pgd.json").write_text((bench_dir / "atent_vs_pgd.json").read_text())
    cpu_epoch = json.loads((bench_dir / "epoch_time.json").read_text())
    (bench / "epoch_time.json").write_text(json.dumps(_fake_gpu_epoch(cpu_epoch)))
    notebook.execute("tableS4_time_per_epoch", _params(bench, tmp_path, smoke_profile_path, smoke_runs),
                     build_dir=tmp_path / "build")

    table = pd.read_csv(tmp_path / "tables" / "tableS4_time_per_epoch.csv", index_col="setting")
    assert table.loc["l2 / ATENT K=10", "paper s/epoch"] == 282 and table.loc["linf / PGD-AT", "paper s/epoch"] == 615
    assert float(table.loc["l2 / ATENT K=10", "ours s/epoch"]) == pytest.approx(98.0)
    assert table.loc["l2 / ATENT K=10", "our device"] == "TEST GPU (fabricated fixture)"
    assert table.loc["l2 / ATENT K=10", "target s/epoch"] == "<= 20 on an H100"
    assert table.loc["l2 / ATENT K=10", "within target"] == "no"  # 0.5 s x 196 steps = 98 s
    assert pd.isna(table.loc["l2 / ATENT K=5", "within target"])  # the target is for K = 10 only
    assert table.loc["linf / ATENT K=10", "ours s/epoch"] == "pending (no GPU run yet)"
    assert table.loc["l2 / TRADES", "ours s/epoch"] == "pending (no GPU run yet)"
    ratios = pd.read_csv(tmp_path / "tables" / "tableS4_atent_over_pgd.csv", index_col="norm")
    assert ratios.loc["l2", "paper (TITAN, epoch)"] == 1.17 and ratios.loc["linf", "paper (TITAN, epoch)"] == 1.83
    assert ratios.loc["linf", "ours, epoch (GPU)"] == "pending (no GPU run yet)"
    assert float(ratios.loc["l2", "ours, epoch (GPU)"]) == pytest.approx(1.111, abs=1e-3)
    metrics = json.loads((tmp_path / "metrics" / "tableS4_time_per_epoch.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["inputs"] == SYNTHETIC
    assert metrics["paper_atent_over_pgd_at"] == {"l2": 1.165, "linf": 1.834}
    assert metrics["ours_atent_over_pgd_at_epoch"]["linf"] is None
    assert set(metrics["atent_step_linear_fit"]) == {"l2", "linf"}  # K = 1, 2, 10 from the step bench above
    steps = json.loads((bench / "atent_vs_pgd.json").read_text())
    for norm in ("l2", "linf"):
        (row,) = [r for r in steps["results"] if (r["norm"], r["K"]) == (norm, 10)]
        flop_ratio = round(row["flop_ratios"]["atent_over_pgd_at"], 3)
        assert ratios.loc[norm, "ours, arithmetic K=10 (FLOPs)"] == flop_ratio
        assert metrics["ours_atent_over_pgd_at_flops_K10"][norm] == flop_ratio
    for ext in ("png", "pdf"):
        assert (tmp_path / "figures" / f"tableS4_time_per_step.{ext}").stat().st_size > 5000
        assert (tmp_path / "figures" / f"tableS4_training_epochs.{ext}").stat().st_size > 5000
    # the training table: the smoke runs' own run.json seconds, seeds pooled, beside PGD-AT's
    training = pd.read_csv(tmp_path / "tables" / "tableS4_training_epochs.csv", index_col=["experiment", "defense"])
    prof = load_profile(smoke_profile_path)
    for experiment in ("mnist_linf", "mnist_l2"):
        expected = report.epoch_times(smoke_runs, prof, experiment)
        assert list(training.loc[experiment].index) == list(expected.index)
        assert training.loc[experiment, "median s/epoch"].tolist() == expected["median s/epoch"].tolist()
        assert metrics["training_seconds_per_epoch"][experiment]["pgd_at"]["x_pgd_at"] == 1.0
    assert training.loc[("mnist_linf", "pgd_at"), "runs"] == 2  # pgd_at and pgd_at_seed1


def test_tableS4_notebook_without_results(tmp_path, smoke_profile_path, smoke_runs):
    """No bench results at all: the notebook still runs and every 'ours' cell is pending."""
    notebook.execute("tableS4_time_per_epoch", _params(tmp_path / "empty", tmp_path, smoke_profile_path, smoke_runs),
                     build_dir=tmp_path / "build")
    table = pd.read_csv(tmp_path / "tables" / "tableS4_time_per_epoch.csv", index_col="setting")
    assert (table["ours s/epoch"] == "pending (no GPU run yet)").all()
    assert json.loads((tmp_path / "metrics" / "tableS4_time_per_epoch.json").read_text())["epoch_pending"] is True


def test_tableS4_notebook_passes_nbval(bench_dir, tmp_path, smoke_profile_path, smoke_runs):
    params = _params(bench_dir, tmp_path, smoke_profile_path, smoke_runs)  # the smoke benches' JSON, CPU only
    nb = notebook.to_ipynb("tableS4_time_per_epoch", tmp_path / "tableS4_time_per_epoch.ipynb", params)
    run_nbval(nb, tmp_path)
