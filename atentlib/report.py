"""Small helpers the notebooks call: read run results, put our numbers beside the paper's, save labelled
tables and figures. Every output names the profile it came from."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from .checkpoint import write_json
from .config import PARAMS_DIR
from .data import atomic_write_bytes


def paper_numbers(table: str, params_dir: Path = PARAMS_DIR) -> dict:
    """The papers' reported numbers for `table` (params/paper_numbers.yaml): source, columns, rows."""
    allp = yaml.safe_load((params_dir / "paper_numbers.yaml").read_text())
    if table not in allp:
        raise KeyError(f"no paper numbers for {table!r}: known tables are {', '.join(sorted(allp))}")
    return allp[table]


def load_eval(runs_dir: Path, profile: str, experiment: str, defense: str, suite: str = "evaluation") -> dict:
    """A run's eval.json (suite evaluation) or audit.json (suite audit), with a message saying how to make it."""
    path = Path(runs_dir) / profile / experiment / defense / ("audit.json" if suite == "audit" else "eval.json")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (or python -m atentlib evaluate --suite "
                                f"{suite} --profile {profile} --experiment {experiment} --defense {defense})")
    return json.loads(path.read_text())


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


def beside_paper(ours: pd.DataFrame, table: str, profile: str, checkpoint: str = "last") -> pd.DataFrame:
    """Our numbers (one checkpoint) in columns labelled with the profile, the paper's in columns labelled 'paper'."""
    paper = paper_numbers(table)
    sel = ours[ours["checkpoint"] == checkpoint].set_index("defense")
    metric_cols = [c for c in sel.columns if c not in {"checkpoint", "epoch", "n_test"}]
    out = pd.DataFrame(index=sel.index)
    for c in metric_cols:
        out[f"{c} ({profile})"] = sel[c].round(2)
    for key, label in paper["columns"].items():
        out[f"{label} (paper)"] = [paper["rows"].get(d, {}).get(key) for d in sel.index]
    out.index.name = "defense"
    return out


def write_table(df: pd.DataFrame, name: str, out_dir: Path, profile: str, caption: str,
                note: str | None = None) -> tuple[Path, Path]:
    """df -> out_dir/name.csv and name.md (the Markdown opens with the caption and the profile, and ends with
    `note`; by default, outside the paper profile, a note that the numbers are not a reproduction)."""
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    atomic_write_bytes(csv_path, df.to_csv().encode())
    md = f"**{caption}** — profile: `{profile}`\n\n{df.to_markdown(floatfmt='.2f')}\n"
    if note is None and profile != "paper":
        note = (f"Columns marked ({profile}) come from the {profile} profile: reduced data and epochs, not a "
                "reproduction of the paper's numbers, which are shown beside them for reference.")
    if note:
        md += f"\n{note}\n"
    atomic_write_bytes(md_path, md.encode())
    return csv_path, md_path


def save_figure(fig, name: str, out_dir: Path, profile: str) -> list[Path]:
    """Save a matplotlib figure as PNG and PDF, with the profile written in its corner."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"profile: {profile}", ha="right", va="bottom", fontsize=8, color="0.4")
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=130 if p.suffix == ".png" else None, bbox_inches="tight")
    return paths


def write_metrics(metrics: dict, name: str, out_dir: Path) -> Path:
    path = Path(out_dir) / f"{name}.json"
    write_json(metrics, path)
    return path


def training_curves(runs_dir: Path, profile: str, experiment: str, defenses: list[str]) -> pd.DataFrame:
    """Long-form per-epoch metrics of several runs (for Figure S1-style plots)."""
    frames = []
    for d in defenses:
        path = Path(runs_dir) / profile / experiment / d / "metrics.csv"
        if path.exists():
            frames.append(pd.read_csv(path).assign(defense=d))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
