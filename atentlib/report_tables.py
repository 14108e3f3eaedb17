"""Tables of the study: results summarised over seeds, put beside the papers' numbers, described in sentences,
and written as CSV and Markdown labelled with the profile."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .data import atomic_write_bytes
from .report_names import EARLY_STOPPED, display_name, seed_groups
from .report_results import paper_numbers, result_metrics


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
                note: str | None = None, extra: str = "") -> tuple[Path, Path]:
    """df -> out_dir/name.csv and name.md (the Markdown opens with the caption and the profile, and ends with
    `note`; by default, outside the paper profile, a note that the numbers are not a reproduction), followed by
    `extra` (a sentence of the table's own, such as which runs it still leaves out).

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
    note = " ".join(filter(None, [note, extra]))
    if note:
        md += f"\n{note}\n"
    atomic_write_bytes(md_path, md.encode())
    return csv_path, md_path


def default_note(df: pd.DataFrame, profile: str) -> str:
    """The reminder under a table outside the paper profile: if some columns carry the profile's label, only
    those are ours; otherwise every number in the table is."""
    if any(f"({profile})" in str(c) for c in df.columns):
        return (f"Columns marked ({profile}) come from the {profile} profile (params/{profile}.yaml: fewer training "
                "digits and epochs than the paper's), not a reproduction of the paper's numbers, which are shown "
                "beside them for reference.")
    return (f"Every number in this table comes from the {profile} profile (params/{profile}.yaml: fewer training "
            "digits and epochs than the paper's); none is a reproduction of a paper's number.")


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
        best = summarize(ours, {early_stopped + EARLY_STOPPED: groups[early_stopped]}, checkpoint="best")
        summary = pd.concat([summary, best])
    return summary


def summary_metrics(summary: pd.DataFrame, profile: str) -> dict:
    """A summarize frame as the JSON `dvc metrics show` reads: {defense: {metric: value}, profile: name}."""
    metrics: dict = {d: {k: round(float(v), 2) for k, v in row.items() if pd.notna(v)}
                     for d, row in summary.iterrows()}
    metrics["profile"] = profile
    return metrics
