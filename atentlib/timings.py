"""Where the pipeline's time went, read from what the stages record: training seconds (run.json), attack seconds
(eval.json and audit.json) and notebook execution time (papermill's duration in the executed notebooks of build/).

Used to see which part of `dvc repro` to trim when a profile misses its time budget. Only recorded work is counted:
process start-up, data loading and DVC's own bookkeeping are not in any record, so the total is a lower bound.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RESULT_FILES = {"evaluation": "eval.json", "audit": "audit.json"}


def attack_seconds(result: dict) -> float:
    """Seconds spent attacking, summed over the checkpoints and attacks of one eval.json or audit.json.

    A checkpoint whose results were copied from its twin ("same_as": the best checkpoint was the last one) cost
    nothing and is not counted.
    """
    total = 0.0
    for ckpt in result.get("checkpoints", {}).values():
        if "same_as" in ckpt:
            continue
        total += sum(float(a.get("seconds", 0.0)) for a in ckpt.get("attacks", {}).values())
    return total


def training_seconds(run: dict) -> float:
    """Seconds a run trained for: the sum of its epochs' seconds, which counts the epochs of every session of a run
    that was interrupted and resumed (seconds_this_session, its fallback, counts only the last session)."""
    per_epoch = run.get("seconds_per_epoch")
    if per_epoch:
        return float(sum(per_epoch))
    return float(run.get("seconds_this_session", float("nan")))


def run_timings(runs_dir: Path | str, profile: str) -> pd.DataFrame:
    """One row per run folder of runs_dir/profile: training, evaluation and audit seconds (NaN where not recorded)."""
    rows = []
    for run in sorted(Path(runs_dir, profile).glob("*/*/run.json")):
        folder = run.parent
        row = {"experiment": folder.parent.name, "defense": folder.name,
               "train": training_seconds(json.loads(run.read_text()))}
        for suite, name in RESULT_FILES.items():
            path = folder / name
            row[suite] = attack_seconds(json.loads(path.read_text())) if path.exists() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=["experiment", "defense", "train", *RESULT_FILES])


def notebook_timings(build_dir: Path | str) -> pd.Series:
    """Seconds per executed notebook in build_dir (the last execution of each name; papermill's duration)."""
    out = {}
    for nb in sorted(Path(build_dir).glob("*.ipynb")):
        duration = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {}).get("duration")
        if duration is not None:
            out[nb.stem] = float(duration)
    return pd.Series(out, name="seconds", dtype=float)


def summary(runs_dir: Path | str, profile: str, build_dir: Path | str) -> str:
    """Markdown: minutes per experiment (training, evaluation, audit), per notebook, and the recorded total."""
    runs = run_timings(runs_dir, profile)
    per_exp = (runs.groupby("experiment")[["train", *RESULT_FILES]].sum(min_count=1) / 60).round(1)
    per_exp["runs"] = runs.groupby("experiment").size()
    notebook_seconds = notebook_timings(build_dir)
    notebooks = (notebook_seconds / 60).round(1).rename("minutes")
    total = (runs[["train", *RESULT_FILES]].sum().sum() + notebook_seconds.sum()) / 60
    nb_text = notebooks.to_frame().to_markdown() if len(notebooks) else f"no executed notebooks in {build_dir}"
    return (f"Recorded time of profile {profile!r} (minutes; start-up and DVC bookkeeping not included)\n\n"
            f"{per_exp.to_markdown()}\n\n{nb_text}\n\nrecorded total: {total:.1f} minutes\n")
