"""tools/compare_runs.py: a rerun is called identical only when every recorded value but the clock agrees."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_runs.py"

EVAL = {
    "git_commit": "abc1234",
    "checkpoints": {"last": {"n_examples": 4, "natural": 100.0, "natural_correct": "1111",
                             "attacks": {"pgd20": {"accuracy": 75.0, "seconds": 3.2, "correct": "1101"}}}},
}


def run(tmp_path: Path, new: dict, old: dict) -> subprocess.CompletedProcess:
    (tmp_path / "new.json").write_text(json.dumps(new))
    (tmp_path / "old.json").write_text(json.dumps(old))
    return subprocess.run([sys.executable, str(TOOL), str(tmp_path / "new.json"), str(tmp_path / "old.json")],
                          capture_output=True, text=True)


def test_eval_equal_but_for_clock_and_commit(tmp_path: Path) -> None:
    new = copy.deepcopy(EVAL)
    new["git_commit"] = "def5678+dirty"
    new["checkpoints"]["last"]["attacks"]["pgd20"]["seconds"] = 9.9
    result = run(tmp_path, new, EVAL)
    assert result.returncode == 0, result.stdout
    assert "4 attacked digits" in result.stdout


def test_eval_one_digit_flipped_is_a_difference(tmp_path: Path) -> None:
    # same accuracy, another digit lost: a reproduction check must see it
    new = copy.deepcopy(EVAL)
    new["checkpoints"]["last"]["attacks"]["pgd20"]["correct"] = "1011"
    result = run(tmp_path, new, EVAL)
    assert result.returncode == 1
    assert "pgd20/correct: 2 of 4 digits differ" in result.stdout


def test_eval_missing_checkpoint_is_a_difference(tmp_path: Path) -> None:
    new = copy.deepcopy(EVAL)
    new["checkpoints"]["best"] = new["checkpoints"]["last"]
    result = run(tmp_path, new, EVAL)
    assert result.returncode == 1 and "/checkpoints/best: only in new" in result.stdout


def test_curves_ignore_only_seconds(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("epoch,loss,seconds\n1,0.5,10\n2,0.4,11\n")
    (tmp_path / "b.csv").write_text("epoch,loss,seconds\n1,0.5,99\n2,0.41,12\n")
    result = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "a.csv"), str(tmp_path / "b.csv")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "epoch 2: loss 0.4 != 0.41" in result.stdout
    assert "epoch 1" not in result.stdout
