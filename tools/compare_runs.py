"""Compare two per-epoch curves (metrics.csv) of the same run, every column but the wall-clock seconds.

    python tools/compare_runs.py NEW.csv OLD.csv

Prints the epochs compared and each difference; exits 1 when any recorded value differs, 0 when all agree (the
shorter file's epochs are compared: a run still training is checked as far as it got).
"""
from __future__ import annotations

import csv
import sys

IGNORED = {"seconds"}  # wall-clock time differs from run to run by nature


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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    new, old = read(argv[0]), read(argv[1])
    diffs = differences(new, old)
    n = min(len(new), len(old))
    print(f"{n} epochs compared ({len(new)} and {len(old)} recorded): "
          + ("identical but for the seconds" if not diffs else f"{len(diffs)} differences"))
    for line in diffs:
        print("  " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
