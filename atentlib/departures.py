"""Where a profile's numbers are far from the paper's, and how its set-up differs from the paper's set-up.

A table notebook prints both: every number more than a threshold away from the paper's, then the settings in which
the profile's runs depart from the paper profile's (params/paper.yaml, the papers' protocol): training digits,
epochs, optimiser, steps of the inner maximisation, digits attacked. Those departures are the candidate reasons
for the gaps; a gap that no departure explains is worth a closer look.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .config import Profile
from .report import seed_base

__all__ = ["Gap", "common_and_own", "explain_gaps", "large_gaps", "setup_differences"]

# the sizes of the full training and test splits, for a data entry that takes all of them (n_train / n_test unset)
FULL_SPLITS = {"mnist": {"n_train": 60000, "n_test": 10000}, "cifar10": {"n_train": 50000, "n_test": 10000}}
TRAIN_KEYS = ("epochs", "batch_size", "optimizer", "lr_milestones", "eps_warmup_epochs", "amp")


@dataclass(frozen=True)
class Gap:
    defense: str
    metric: str
    ours: float
    paper: float

    @property
    def diff(self) -> float:
        return self.ours - self.paper


def large_gaps(summary: pd.DataFrame, paper_rows: dict, compare: dict[str, str], threshold: float = 2.0) -> list[Gap]:
    """Every (defense, metric) of a summarize frame whose mean is more than `threshold` points from the paper's
    number; `compare` maps our metric columns to the paper's keys."""
    gaps = []
    for defense in summary.index:
        for ours_key, paper_key in compare.items():
            ref = paper_rows.get(defense, {}).get(paper_key)
            if ref is None or ours_key not in summary.columns or pd.isna(summary.loc[defense, ours_key]):
                continue
            g = Gap(defense, ours_key, float(summary.loc[defense, ours_key]), float(ref))
            if abs(g.diff) > threshold:
                gaps.append(g)
    return gaps


def _digits(profile: Profile, dataset: str) -> dict[str, int]:
    """Training (without validation) and test digits of a profile's data entry, full splits where unset."""
    cfg = profile.data[dataset]
    full = FULL_SPLITS[dataset]
    n_train = cfg.n_train if cfg.n_train is not None else full["n_train"]
    return {"training digits": n_train - (cfg.n_val or 0),
            "held-out digits": cfg.n_test if cfg.n_test is not None else full["n_test"]}


def _fmt(value: Any, other: Any = None) -> str:
    """A setting for a sentence; of a dict, only the keys in which it differs from `other`."""
    if isinstance(value, dict):
        keys = [k for k in value if not isinstance(other, dict) or value[k] != other.get(k)]
        return ", ".join(f"{k} {value[k]}" for k in keys)
    return str(value)


def common_and_own(per_defense: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """The lines every defense shares (said once) and each defense's own."""
    lists = list(per_defense.values())
    common = [line for line in lists[0] if all(line in other for other in lists[1:])] if lists else []
    return common, {d: [line for line in lines if line not in common] for d, lines in per_defense.items()}


def setup_differences(ours: Profile, reference: Profile, experiment: str, defense: str) -> list[str]:
    """'<setting>: <ours> (paper: <theirs>)' for every setting in which `defense` of `experiment` is trained or
    evaluated differently under `ours` than under `reference`: data sizes, the train section (epochs, batch,
    optimiser, schedule, warm-up, precision), the defense's own parameters, the digits attacked."""
    exp, ref_exp = ours.experiment(experiment), reference.experiment(experiment)
    lines = []
    mine, theirs = _digits(ours, exp.dataset), _digits(reference, ref_exp.dataset)
    if mine["training digits"] != theirs["training digits"]:
        lines.append(f"training digits: {mine['training digits']:,} (paper: {theirs['training digits']:,})")
    if exp.model != ref_exp.model:
        lines.append(f"model: {exp.model} (paper: {ref_exp.model})")
    if defense not in ref_exp.defenses:
        return lines + [f"defense {defense!r}: not in the paper profile's {experiment}"]
    t, rt = exp.train_config(defense).model_dump(), ref_exp.train_config(defense).model_dump()
    lines += [f"{k}: {_fmt(t[k], rt[k])} (paper: {_fmt(rt[k], t[k])})" for k in TRAIN_KEYS if t[k] != rt[k]]
    d = exp.defense(defense).model_dump(exclude={"train"})
    rd = ref_exp.defense(defense).model_dump(exclude={"train"})
    lines += [f"{defense}.{k}: {_fmt(d[k], rd.get(k))} (paper: {_fmt(rd.get(k), d[k])})" for k in d if d[k] != rd.get(k)]
    n_eval = exp.evaluation.n_examples or mine["held-out digits"]
    n_ref = ref_exp.evaluation.n_examples or theirs["held-out digits"]
    if n_eval != n_ref:
        lines.append(f"digits attacked: {n_eval:,} (paper: {n_ref:,})")
    return lines


def explain_gaps(summary: pd.DataFrame, paper_rows: dict, compare: dict[str, str], ours: Profile,
                 reference: Profile, experiment: str, threshold: float = 2.0) -> list[str]:
    """Sentences for a table notebook: the numbers more than `threshold` points from the paper's, then the
    departures of the set-up of those defenses from the reference (paper) profile, shared ones said once."""
    gaps = large_gaps(summary, paper_rows, compare, threshold)
    if not gaps:
        return [f"Every number with a paper counterpart is within {threshold:g} points of it."]
    lines = [f"{len(gaps)} number{'s differ' if len(gaps) > 1 else ' differs'} from the paper's by more than "
             f"{threshold:g} points:"]
    lines += [f"  {g.defense} {g.metric}: {g.ours:.2f} against {g.paper:.2f} ({g.diff:+.2f})" for g in gaps]
    trained = ours.experiment(experiment).defenses
    per_defense = {}
    for row in dict.fromkeys(g.defense for g in gaps):
        # a table row is a defense, its seeds averaged (<d>_seed<N>), or an early-stopped one (<d>_e)
        name = next((c for c in (row, seed_base(row), row.removesuffix("_e")) if c in trained), None)
        if name is not None:
            per_defense[row] = setup_differences(ours, reference, experiment, name)
    common, own = common_and_own(per_defense) if len(per_defense) > 1 else ([], per_defense)
    lines.append(f"How the {ours.profile!r} profile departs from the paper's set-up (profile {reference.profile!r}) "
                 "for these defenses, the candidate reasons:")
    lines += [f"  all: {line}" for line in common]
    lines += [f"  {d}: {line}" for d, own_lines in own.items() for line in own_lines]
    return lines
