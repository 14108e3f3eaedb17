"""Small helpers the notebooks call: read run results, put our numbers beside the paper's, save labelled
tables and figures. Every output names the profile it came from."""
from __future__ import annotations

import json
import re
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


_SEED_SUFFIX = re.compile(r"^(?P<base>.+)_seed(?P<seed>\d+)$")

DISPLAY_NAMES = {"sgd": "SGD", "entropy_sgd": "Entropy-SGD", "pgd_at": "PGD-AT", "pgd_at_e": "PGD-AT(E)",
                 "trades": "TRADES", "mart": "MART", "mma": "MMA", "act": "ACT", "atent_linf": "ATENT-linf",
                 "atent_l2": "ATENT-l2"}


def display_name(defense: str) -> str:
    """The name a reader knows (PGD-AT, TRADES, ...) for a defense key of the profiles."""
    return DISPLAY_NAMES.get(defense, defense)


def seed_base(defense: str) -> str:
    """`pgd_at_seed1` -> `pgd_at`: extra seeds of a defense are profile entries named <defense>_seed<N>."""
    m = _SEED_SUFFIX.match(defense)
    return m["base"] if m else defense


def seed_groups(defenses: list[str]) -> dict[str, list[str]]:
    """Defenses grouped with their extra seeds, in profile order: {pgd_at: [pgd_at, pgd_at_seed1, ...], ...}."""
    groups: dict[str, list[str]] = {}
    for d in defenses:
        groups.setdefault(seed_base(d) if seed_base(d) in defenses else d, []).append(d)
    return groups


def summarize(ours: pd.DataFrame, groups: dict[str, list[str]], checkpoint: str = "last") -> pd.DataFrame:
    """One row per group (a defense and its seeds) at one checkpoint: the mean of each metric, its standard
    deviation over seeds (`<metric> sd`, NaN for a single run) and the number of seeds."""
    metric_cols = result_metrics(ours)
    sel = ours[ours["checkpoint"] == checkpoint].set_index("defense")
    rows = {}
    for name, members in groups.items():
        missing = [m for m in members if m not in sel.index]
        if missing:
            raise KeyError(f"no {checkpoint!r} checkpoint results for {missing}")
        part = sel.loc[members, metric_cols]
        row = {c: part[c].mean() for c in metric_cols}
        row.update({f"{c} sd": part[c].std(ddof=1) if len(part) > 1 else float("nan") for c in metric_cols})
        row["seeds"] = len(part)
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "defense"
    return out[metric_cols + [f"{c} sd" for c in metric_cols] + ["seeds"]]


def metric_columns(summary: pd.DataFrame) -> list[str]:
    """The metric columns of a summarize frame (natural, pgd20, ...), without their sd columns and the seed count."""
    return [c for c in summary.columns if c != "seeds" and not c.endswith(" sd")]


def describe_experiment(exp) -> str:
    """One paragraph naming an experiment's model, threat, defenses and evaluation attacks (for notebooks)."""
    subsets = subset_attacks(exp.evaluation)

    def one(a) -> str:
        text = (f"{a.name}: {a.kind} {a.steps} steps of {a.step_size}, {a.restarts} restart(s)"
                if hasattr(a, "restarts") else f"{a.name}: {a.kind}")
        return text + (f" (first {subsets[a.name]} examples only)" if a.name in subsets else "")

    attacks = "; ".join(one(a) for a in exp.evaluation.attacks)
    return (f"model {exp.model}, threat {exp.threat.norm} eps = {exp.threat.eps}; defenses: "
            f"{', '.join(exp.defenses)}\nattacks on the first {exp.evaluation.n_examples or 'all'} held-out "
            f"examples: {attacks}")


def subset_attacks(evaluation) -> dict[str, int]:
    """{attack name: n} for the attacks of a suite that run on fewer examples than the suite."""
    n = evaluation.n_examples
    return {a.name: a.n_examples for a in evaluation.attacks if a.n_examples and (n is None or a.n_examples < n)}


def subset_note(evaluation) -> str:
    """'; cw on the first 200 examples' for the attacks of a suite that run on a subset ('' when none does)."""
    parts = [f"{name} on the first {m}" for name, m in subset_attacks(evaluation).items()]
    return "; " + ", ".join(parts) + " examples" if parts else ""


def attack_labels(evaluation) -> dict[str, str]:
    """Legend labels that say when an attack ran on a subset: {'cw': 'cw (first 200)'}."""
    return {name: f"{name} (first {m})" for name, m in subset_attacks(evaluation).items()}


def beside_paper(summary: pd.DataFrame, table: str, profile: str) -> pd.DataFrame:
    """Our numbers (a summarize frame) in columns labelled with the profile (mean, and sd when some row has several
    seeds), the paper's in columns labelled 'paper'."""
    paper = paper_numbers(table)
    metric_cols = metric_columns(summary)
    several = bool((summary["seeds"] > 1).any())
    out = pd.DataFrame(index=summary.index)
    for c in metric_cols:
        out[f"{c} ({profile})"] = summary[c].round(2)
        if several:
            out[f"{c} sd ({profile})"] = summary[f"{c} sd"].round(2)
    out["seeds"] = summary["seeds"].astype(int)
    for key, label in paper["columns"].items():
        out[f"{label} (paper)"] = [paper["rows"].get(d, {}).get(key) for d in summary.index]
    out.index.name = "defense"
    return out


def write_table(df: pd.DataFrame, name: str, out_dir: Path, profile: str, caption: str,
                note: str | None = None) -> tuple[Path, Path]:
    """df -> out_dir/name.csv and name.md (the Markdown opens with the caption and the profile, and ends with
    `note`; by default, outside the paper profile, a note that the numbers are not a reproduction).

    A multi-level index becomes one Markdown column per level (instead of a column of tuples)."""
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    atomic_write_bytes(csv_path, df.to_csv().encode())
    multi = isinstance(df.index, pd.MultiIndex)
    shown = df.reset_index() if multi else df
    floatfmt = ([] if multi else ["g"]) + [".2f" if pd.api.types.is_float_dtype(shown[c]) else "g"
                                           for c in shown.columns]  # counts stay ints
    md = f"**{caption}** — profile: `{profile}`\n\n{shown.to_markdown(index=not multi, floatfmt=floatfmt)}\n"
    if note is None and profile != "paper":
        note = default_note(df, profile)
    if note:
        md += f"\n{note}\n"
    atomic_write_bytes(md_path, md.encode())
    return csv_path, md_path


def default_note(df: pd.DataFrame, profile: str) -> str:
    """The reminder under a table outside the paper profile: if some columns carry the profile's label, only
    those are ours; otherwise every number in the table is."""
    if any(f"({profile})" in str(c) for c in df.columns):
        return (f"Columns marked ({profile}) come from the {profile} profile: reduced data and epochs, not a "
                "reproduction of the paper's numbers, which are shown beside them for reference.")
    return (f"Every number in this table comes from the {profile} profile (reduced data and epochs); none is a "
            "reproduction of a paper's number.")


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


def _mean_sd(summary: pd.DataFrame, defense: str, metric: str) -> str:
    sd = summary.loc[defense].get(f"{metric} sd")
    text = f"{summary.loc[defense, metric]:.2f}"
    return text if sd is None or pd.isna(sd) else f"{text} ± {sd:.2f}"


def findings(summary: pd.DataFrame, paper_rows: dict, compare: dict[str, str]) -> list[str]:
    """One sentence per row of a summarize frame: each metric (mean ± sd over seeds), and for the metrics in
    `compare` (ours -> the paper's key) the paper's number and our difference to it."""
    lines = []
    metric_cols = metric_columns(summary)
    for d in summary.index:
        seeds = int(summary.loc[d, "seeds"])
        parts = []
        for m in metric_cols:
            ref = paper_rows.get(d, {}).get(compare.get(m, ""))
            diff = "" if ref is None else f" (paper {ref:.2f}, {summary.loc[d, m] - ref:+.2f})"
            parts.append(f"{m} {_mean_sd(summary, d, m)}{diff}")
        lines.append(f"{display_name(d)} [{seeds} seed{'s' if seeds > 1 else ''}]: " + "; ".join(parts))
    return lines


def table_summary(ours: pd.DataFrame, defenses: list[str], early_stopped: str | None = None) -> pd.DataFrame:
    """The rows of a paper table: each defense (seeds averaged) at its last checkpoint, plus `<early_stopped>_e`,
    the same defense at its best checkpoint (early stopping, e.g. PGD-AT(E)), when that defense was run."""
    groups = seed_groups(defenses)
    summary = summarize(ours, groups, checkpoint="last")
    if early_stopped is not None and early_stopped in groups:
        best = summarize(ours, {f"{early_stopped}_e": groups[early_stopped]}, checkpoint="best")
        summary = pd.concat([summary, best])
    return summary


def summary_metrics(summary: pd.DataFrame, profile: str) -> dict:
    """A summarize frame as the JSON `dvc metrics show` reads: {defense: {metric: value}, profile: name}."""
    metrics: dict = {d: {k: round(float(v), 2) for k, v in row.items() if pd.notna(v)}
                     for d, row in summary.iterrows()}
    metrics["profile"] = profile
    return metrics
