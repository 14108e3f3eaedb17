"""atentlib.timings adds up what the stages record, and does not count a checkpoint copied from its twin."""
from __future__ import annotations

import json

import pytest

from atentlib import timings


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_recorded_seconds_are_summed_per_run_and_a_copied_checkpoint_costs_nothing(tmp_path):
    run = tmp_path / "runs" / "quick" / "mnist_linf" / "pgd_at"
    _write(run / "run.json", {"seconds_this_session": 20.0, "seconds_per_epoch": [50.0, 30.0, 40.0]})  # resumed once
    last = {"attacks": {"pgd20": {"accuracy": 90.0, "seconds": 8.0}, "cw": {"accuracy": 85.0, "seconds": 16.0}}}
    _write(run / "eval.json", {"checkpoints": {"last": last, "best": {**last, "same_as": "last"}}})
    _write(run / "audit.json", {"checkpoints": {"last": {"attacks": {"autoattack": {"seconds": 60.0}}}}})
    other = tmp_path / "runs" / "quick" / "mnist_linf" / "sgd"
    _write(other / "run.json", {"seconds_this_session": 30.0})        # not evaluated yet
    _write(tmp_path / "build" / "table2_mnist_linf.ipynb", {"metadata": {"papermill": {"duration": 12.5}}})

    table = timings.run_timings(tmp_path / "runs", "quick").set_index("defense")
    assert table.loc["pgd_at", ["train", "evaluation", "audit"]].tolist() == [120.0, 24.0, 60.0]
    assert table.loc["sgd", "train"] == 30.0 and table["evaluation"].isna().sum() == 1
    assert timings.notebook_timings(tmp_path / "build").to_dict() == {"table2_mnist_linf": 12.5}
    text = timings.summary(tmp_path / "runs", "quick", tmp_path / "build")
    assert f"recorded total: {(120 + 24 + 60 + 30 + 12.5) / 60:.1f} minutes" in text


def test_attack_seconds_of_a_result_without_checkpoints_is_zero():
    assert timings.attack_seconds({}) == pytest.approx(0.0)


def test_the_command_writes_the_summary_it_prints(tmp_path, capsys):
    from atentlib.__main__ import main

    _write(tmp_path / "runs" / "quick" / "mnist_linf" / "sgd" / "run.json", {"seconds_per_epoch": [60.0, 60.0]})
    out = tmp_path / "tables" / "timings.md"
    main(["timings", "--profile", "quick", "--runs-dir", str(tmp_path / "runs"), "--build-dir",
          str(tmp_path / "build"), "--out", str(out)])
    assert out.read_text() in capsys.readouterr().out
    assert "recorded total: 2.0 minutes" in out.read_text()
