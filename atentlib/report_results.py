"""Reading what the pipeline wrote: a run's eval.json, audit.json, run.json and metrics.csv, and the papers'
reported numbers (params/paper_numbers.yaml), as dicts and data frames."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from .checkpoint import CHECKPOINT_FILES
from .config import PARAMS_DIR
from .report_names import seed_groups


def paper_numbers(table: str, params_dir: Path = PARAMS_DIR) -> dict:
    """The papers' reported numbers for `table` (params/paper_numbers.yaml): source, columns, rows."""
    allp = yaml.safe_load((params_dir / "paper_numbers.yaml").read_text())
    if table not in allp:
        raise KeyError(f"no paper numbers for {table!r}: known tables are {', '.join(sorted(allp))}")
    return allp[table]


RUN_FILES = {"evaluation": "eval.json", "audit": "audit.json", "training": "run.json",  # what each stage leaves in a run
             "model": CHECKPOINT_FILES["last"]}  # a model to attack, also while its training is still running
STAGE_NAMES = {"evaluation": "evaluation", "audit": "audit", "training": "training", "model": "training"}


def load_eval(runs_dir: Path, profile: str, experiment: str, defense: str, suite: str = "evaluation") -> dict:
    """A run's eval.json (suite evaluation) or audit.json (suite audit), with a message saying how to make it."""
    path = Path(runs_dir) / profile / experiment / defense / RUN_FILES.get(suite, RUN_FILES["evaluation"])
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (or python -m atentlib evaluate --suite "
                                f"{suite} --profile {profile} --experiment {experiment} --defense {defense})")
    return json.loads(path.read_text())


def split_evaluated(runs_dir: Path, profile: str, experiment: str, defenses: list[str],
                    suite: str = "evaluation") -> tuple[list[str], list[str]]:
    """(the runs whose eval.json (suite evaluation), audit.json (suite audit), run.json (suite training: training
    finished) or last checkpoint (suite model) exists, the runs still without one), each in the order given: a
    profile part-way through its pipeline reports what is done and names the rest."""
    if suite not in RUN_FILES:
        raise ValueError(f"suite must be one of {', '.join(RUN_FILES)}, got {suite!r}")
    name = RUN_FILES[suite]
    done = [d for d in defenses if (Path(runs_dir) / profile / experiment / d / name).exists()]
    return done, [d for d in defenses if d not in done]


def evaluated_runs(runs_dir: Path, profile: str, experiment: str, defenses: list[str],
                   suite: str = "evaluation") -> tuple[list[str], list[str]]:
    """split_evaluated for a table or a figure: stops with what to run when no run has the suite's file yet, and
    says which runs lack it."""
    done, missing = split_evaluated(runs_dir, profile, experiment, defenses, suite)
    if not done:
        raise FileNotFoundError(f"no run of {experiment} has its {STAGE_NAMES[suite]} done yet under the {profile} "
                                f"profile: run the {STAGE_NAMES[suite]} stages first (dvc repro)")
    if missing:
        print(missing_note(missing, STAGE_NAMES[suite]))
    return done, missing


def missing_note(missing: list[str], suite: str = "evaluation") -> str:
    """The sentence under a table made part-way: which runs it leaves out (empty when none)."""
    if not missing:
        return ""
    return (f"Not in this table yet ({suite} not run): {', '.join(missing)}; `dvc status` names the stages left, "
            "`dvc repro` runs them.")


def load_run(runs_dir: Path, profile: str, experiment: str, defense: str) -> dict:
    """A run's run.json (seed, epochs, seconds per epoch, where it started from), with a message saying how to make
    it."""
    path = Path(runs_dir) / profile / experiment / defense / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (or python -m atentlib train --profile {profile} "
                                f"--experiment {experiment} --defense {defense})")
    return json.loads(path.read_text())


RESULT_KEYS = ("defense", "checkpoint", "epoch", "n_test")  # the columns of results_frame that are not metrics


def result_metrics(ours: pd.DataFrame) -> list[str]:
    """The metric columns of a results_frame (natural accuracy, then one per attack)."""
    return [c for c in ours.columns if c not in RESULT_KEYS]


def results_frame(runs_dir: Path, profile: str, experiment: str, defenses: list[str]) -> pd.DataFrame:
    """One row per (defense, checkpoint): natural accuracy and accuracy under each attack (%)."""
    rows = []
    for d in defenses:
        ev = load_eval(runs_dir, profile, experiment, d)
        for which, r in ev["checkpoints"].items():
            row = {"defense": d, "checkpoint": which, "epoch": r["epoch"], "n_test": r["n_examples"],
                   "natural": r["natural"]}
            row.update({name: a["accuracy"] for name, a in r["attacks"].items()})
            rows.append(row)
    return pd.DataFrame(rows)


def training_curves(runs_dir: Path, profile: str, experiment: str, defenses: list[str]) -> pd.DataFrame:
    """Long-form per-epoch metrics of several runs (for Figure S1-style plots): the runs whose training finished
    (run.json written), never the partial curve of a run still training or interrupted."""
    frames = []
    for d in defenses:
        path = Path(runs_dir) / profile / experiment / d / "metrics.csv"
        if path.exists() and path.with_name("run.json").exists():
            frames.append(pd.read_csv(path).assign(defense=d))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plateau_epoch(values: list[float], tolerance: float, tail: int = 3) -> int | None:
    """The first epoch (1-based) from which every value stays within `tolerance` of the final level (the mean of the
    last `tail` values): where a curve stops moving beyond its noise, so later epochs add nothing measurable. None
    when the last `tail` values themselves spread wider than that: the curve has not settled."""
    if not values:
        raise ValueError("plateau_epoch needs at least one value")
    last = values[-tail:]
    level = sum(last) / len(last)
    if any(abs(v - level) > tolerance for v in last):
        return None
    epoch = len(values) - len(last) + 1
    while epoch > 1 and abs(values[epoch - 2] - level) <= tolerance:
        epoch -= 1
    return epoch


def epoch_times(runs_dir: Path, prof, experiment: str, reference: str = "pgd_at") -> pd.DataFrame:
    """Seconds per training epoch of an experiment's runs as the engine recorded them (run.json): one row per
    defense with its extra seeds pooled, the median over all their epochs, and that median over the reference's.

    The runs of `dvc repro` train one after another on one machine, so each time also carries the machine's load
    at that moment; the median over epochs and seeds damps it. Columns: inner steps (K, steps or L), the device
    type and autocast dtype the runs recorded, runs, epochs timed, median and "x <reference>"."""
    exp = prof.experiment(experiment)
    rows = []
    for base, names in seed_groups(list(exp.defenses)).items():
        seconds, amps, devices = [], set(), set()
        for d in names:
            run = load_run(runs_dir, prof.profile, experiment, d)
            seconds += run["seconds_per_epoch"]
            amps.add(str(run.get("amp", "not recorded")).replace("torch.", ""))
            devices.add(str(run.get("device", "not recorded")))
        cfg = exp.defense(base)
        inner = next((getattr(cfg, f) for f in ("K", "steps", "L") if hasattr(cfg, f)), "")  # L: Entropy-SGD's
        rows.append({"defense": base, "inner steps": inner, "device": ", ".join(sorted(devices)),
                     "autocast": ", ".join(sorted(amps)), "runs": len(names), "epochs timed": len(seconds),
                     "median s/epoch": round(float(pd.Series(seconds).median()), 2)})
    table = pd.DataFrame(rows).set_index("defense")
    if reference not in table.index:
        raise ValueError(f"reference {reference!r}: not a defense of {experiment} ({', '.join(table.index)})")
    table[f"x {reference}"] = (table["median s/epoch"] / table.loc[reference, "median s/epoch"]).round(3)
    return table
