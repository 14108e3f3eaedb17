"""Compare two records of the same run: per-epoch curves (metrics.csv) or attack results (eval.json).

    python tools/compare_runs.py NEW.csv OLD.csv      # every column but the wall-clock seconds
    python tools/compare_runs.py NEW.json OLD.json    # every accuracy and every digit's kept/lost outcome

Prints what was compared and each difference; exits 1 when any recorded value differs, 0 when all agree. For
curves the shorter file's epochs are compared: a run still training is checked as far as it got. For eval.json
only the wall-clock seconds and the commit label differ by nature (a forced rerun from a clean clone records
its commit as `+dirty`, because DVC removes the tracked outputs before the stage runs); every other value,
the per-digit `correct` strings included, must match.
"""
from __future__ import annotations

import csv
import json
import sys
from typing import Any

IGNORED = {"seconds"}  # wall-clock time differs from run to run by nature
IGNORED_EVAL = IGNORED | {"git_commit"}  # and the commit the rerun was made from


def read(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def differences(new: list[dict[str, str]], old: list[dict[str, str]]) -> list[str]:
    out = []
    for a, b in zip(new, old):
        for key in a.keys() - IGNORED:
            if a.get(key) != b.get(key):
                out.append(f"epoch {a.get('epoch')}: {key} {a.get(key)} != {b.get(key)}")
    return out


def json_differences(new: Any, old: Any, where: str = "") -> list[str]:
    """Every leaf of two JSON trees that differs, by its path; keys in IGNORED_EVAL are skipped at any depth."""
    if isinstance(new, dict) and isinstance(old, dict):
        out = []
        for key in sorted((new.keys() | old.keys()) - IGNORED_EVAL):
            if key not in new or key not in old:
                out.append(f"{where}/{key}: only in {'old' if key not in new else 'new'}")
            else:
                out += json_differences(new[key], old[key], f"{where}/{key}")
        return out
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [d for i, (a, b) in enumerate(zip(new, old)) for d in json_differences(a, b, f"{where}[{i}]")]
    if new == old:
        return []
    if where.endswith("correct") and isinstance(new, str) and isinstance(old, str) and len(new) == len(old):
        # a per-digit kept/lost string (atentlib.scoring.encode_correct): say how many digits moved
        flipped = sum(a != b for a, b in zip(new, old))
        return [f"{where}: {flipped} of {len(new)} digits differ"]
    return [f"{where}: {new!r} != {old!r}"]


def compare_curves(new_path: str, old_path: str) -> list[str]:
    new, old = read(new_path), read(old_path)
    diffs = differences(new, old)
    print(f"{min(len(new), len(old))} epochs compared ({len(new)} and {len(old)} recorded): "
          + ("identical but for the seconds" if not diffs else f"{len(diffs)} differences"))
    return diffs


def compare_eval(new_path: str, old_path: str) -> list[str]:
    with open(new_path) as f:
        new = json.load(f)
    with open(old_path) as f:
        old = json.load(f)
    diffs = json_differences(new, old)
    digits = sum(len(a.get("correct", "")) for c in new.get("checkpoints", {}).values()
                 for a in c.get("attacks", {}).values())
    print(f"{len(new.get('checkpoints', {}))} checkpoints compared ({digits} attacked digits): "
          + ("identical but for the seconds and the commit label" if not diffs else f"{len(diffs)} differences"))
    return diffs


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    diffs = (compare_eval if argv[0].endswith(".json") else compare_curves)(argv[0], argv[1])
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
