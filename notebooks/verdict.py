# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The verdict: is ATENT more robust than PGD-AT?
#
# **What the paper claims.** On MNIST, ATENT keeps more digits than PGD-AT under attack: 96.44% against 96.01%
# under PGD-20 at linf ε = 0.3 (Table 2), and 77.21% against 72.94% under PGD-40 at l2 ε = 2 (Table 1).
#
# **How we ask.** A difference between two defenses has two sources of noise: training (another seed gives
# another model) and the test digits (another sample of digits gives another accuracy). We measure both:
#
# * **over seeds**: each defense is trained from several seeds; the difference of the mean accuracies comes with a
#   95% Welch interval and a paired t-test (seed i of ATENT against seed i of PGD-AT: same data order, same
#   initialisation seed);
# * **over digits**: both models are attacked on the same held-out digits and the evaluation records which digits
#   each keeps; McNemar's exact test uses only the digits where they disagree. The seeds' digit pairs are pooled.
#
# Every attack of the profile's evaluation suite is compared, and AutoAttack (the strongest standard attack, on the
# audit's digits, for the seed pairs the profile audits) last: an advantage that survives only the paper's weak PGD-20
# is not an advantage.

# %% tags=["parameters"]
profile = "converged"      # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiments = {"mnist_linf": "atent_linf", "mnist_l2": "atent_l2"}   # experiment -> its ATENT run
reference = "pgd_at"
confidence = 0.95

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from atentlib import report, verdict
from atentlib.config import load_profile
from atentlib.report_names import seed_base, seed_index
from atentlib.scoring import decode_correct

prof = load_profile(profile)
label = prof.profile
sns.set_theme(style="whitegrid", context="notebook")
PAPER = {"mnist_linf": "table2_mnist_linf", "mnist_l2": "table1_mnist_l2"}


def last(ev: dict) -> dict:
    return ev["checkpoints"]["last"]


def result(ev: dict, attack: str) -> tuple[float, str | None, int]:
    """(accuracy, per-digit record or None, digits) of one evaluated checkpoint; `natural`: no attack."""
    if attack == "natural":
        return ev["natural"], ev.get("natural_correct"), ev["n_examples"]
    r = ev["attacks"][attack]
    return r["accuracy"], r.get("correct"), r["n_examples"]


def compare(experiment: str, attack: str, name: str, pairs: list[tuple[str, str]], checkpoints: dict, of: int) -> None:
    """ATENT (first of each pair) against PGD-AT under `attack` over the seed `pairs`: the table's row, the findings'
    sentence (`name` for the attack) and one dot per run. `checkpoints`: run -> its last checkpoint; `of`: how many
    seed pairs are evaluated."""
    res = {run: result(checkpoints[run], attack) for pair in pairs for run in pair}
    sides = {"ATENT": [a for a, _ in pairs], "PGD-AT": [b for _, b in pairs]}
    acc = {side: [res[run][0] for run in members] for side, members in sides.items()}
    digits = None
    if all(res[run][1] for pair in pairs for run in pair):
        digits = verdict.mcnemar(*(np.concatenate([decode_correct(res[run][1]).numpy() for run in members])
                                   for members in sides.values()))
    # an interval over seeds needs two of them on each side; with one pair, the digits alone speak
    seeds = verdict.seed_difference(acc["ATENT"], acc["PGD-AT"], confidence) if len(pairs) >= 2 else None
    rows.append({"experiment": experiment, "attack": attack, "digits": res[pairs[0][0]][2],
                 "seeds": f"{len(pairs)}/{of}", "ATENT": np.mean(acc["ATENT"]), "PGD-AT": np.mean(acc["PGD-AT"]),
                 "ATENT - PGD-AT": np.mean(acc["ATENT"]) - np.mean(acc["PGD-AT"]),
                 "low": seeds.low if seeds else None, "high": seeds.high if seeds else None,
                 "p paired": seeds.p_paired if seeds else None,
                 "only ATENT keeps": digits.only_a if digits else None,
                 "only PGD-AT keeps": digits.only_b if digits else None,
                 "p McNemar": digits.p_value if digits else None})
    sentences.append(f"[{experiment}] " + verdict.verdict_sentence("ATENT", "PGD-AT", name, seeds, digits))
    for members in sides.values():
        for run in members:
            points.append({"experiment": experiment, "attack": attack,
                           "defense": report.display_name(seed_base(run)), "run": run, "accuracy": res[run][0]})


rows, points, sentences, coverage, audit_files, aa_seeds = [], [], [], {}, {}, {}
for experiment, atent in experiments.items():
    exp = prof.experiment(experiment)
    groups = report.seed_groups(list(exp.defenses))
    sides = {atent: groups[atent], reference: groups[reference]}
    # seed i of ATENT beside seed i of PGD-AT, where both are evaluated: a profile part-way reports what is done
    done, _ = report.split_evaluated(runs_dir, label, experiment, sides[atent] + sides[reference])
    pairs = verdict.paired_runs(sides[atent], sides[reference], done)
    coverage[experiment] = f"{len(pairs)} of {min(len(sides[atent]), len(sides[reference]))} seed pairs evaluated"
    print(f"[{experiment}] {coverage[experiment]}: {', '.join(f'{a} / {b}' for a, b in pairs) or 'none yet'}")
    if not pairs:
        continue
    evals = {run: last(report.load_eval(runs_dir, label, experiment, run)) for pair in pairs for run in pair}
    for attack in ["natural"] + list(evals[pairs[0][0]]["attacks"]):
        compare(experiment, attack, attack, pairs, evals, len(pairs))
    # AutoAttack: the audits (last checkpoint, the audit's digits) of every seed pair audited on both sides
    audited, _ = report.split_evaluated(runs_dir, label, experiment, sides[atent] + sides[reference], suite="audit")
    audit_files[experiment] = {d: report.load_eval(runs_dir, label, experiment, d, suite="audit") for d in audited}
    aa_pairs = verdict.paired_runs(sides[atent], sides[reference], audited)
    if not aa_pairs:
        print(f"[{experiment}] AutoAttack: no seed pair is audited on both sides yet "
              f"(audited: {', '.join(audited) or 'none'})")
        continue
    audits = {run: last(audit_files[experiment][run]) for pair in aa_pairs for run in pair}
    if all("autoattack" in a["attacks"] for a in audits.values()):
        named = ", ".join(str(seed_index(a)) for a, _ in aa_pairs)
        aa_seeds[experiment] = f"seed{'s' if len(aa_pairs) > 1 else ''} {named}"
        compare(experiment, "autoattack", f"AutoAttack ({aa_seeds[experiment]})", aa_pairs, audits, len(pairs))

if not rows:
    raise FileNotFoundError(f"no seed of {reference} and of the ATENT runs is evaluated on both sides yet under the "
                            f"{label} profile ({'; '.join(f'{e}: {c}' for e, c in coverage.items())}): run the "
                            "evaluation stages first (dvc repro)")
table = pd.DataFrame(rows).set_index(["experiment", "attack"])
# what the table shows: accuracies to four decimals (two in the Markdown), the interval to two and the p-values to
# three significant digits; an empty cell where a row has no such number (one seed pair has no interval)
written = table.round(4)
for col, fmt in (("low", ".2f"), ("high", ".2f"), ("p paired", ".3g"), ("p McNemar", ".3g")):
    written[col] = pd.Series([None if pd.isna(v) else float(format(v, fmt)) for v in table[col]], index=table.index,
                           dtype=object)
report.write_table(written, "verdict", tables_dir, label,
                   f"ATENT minus PGD-AT (accuracy points, last checkpoints): mean over seeds with its "
                   f"{confidence:.0%} Welch interval, paired t-test over seeds, McNemar's exact test on the same digits",
                   note=f"Every number comes from the {label} profile; `digits` is how many held-out digits each "
                        "accuracy is measured on (AutoAttack: the audit's digits); `seeds`: how many seed pairs (ATENT seed i "
                        "beside PGD-AT seed i) are in, of those evaluated (AutoAttack: the audited ones); the interval "
                        "needs two. Coverage: "
                        + "; ".join(f"{e} {c}" for e, c in coverage.items()) + ".")
table.round(2)

# %% [markdown]
# ## Every seed
# One dot per trained model; the paper's numbers for the same defense and attack are the black diamonds.

# %%
pts = pd.DataFrame(points)
np.random.seed(0)   # the strip plot's jitter draws from NumPy's global generator: seeded, the figure is stable
shown = [e for e in experiments if e in set(pts.experiment)]
fig, axes = plt.subplots(1, len(shown), figsize=(6.5 * len(shown), 4.2), squeeze=False)
for ax, experiment in zip(axes[0], shown):
    p = pts[pts.experiment == experiment]
    sns.stripplot(data=p, x="attack", y="accuracy", hue="defense", dodge=True, size=7, alpha=0.85, ax=ax,
                  palette={report.display_name(experiments[experiment]): "tab:red",
                           report.display_name(reference): "tab:blue"})
    paper = report.paper_numbers(PAPER[experiment])["rows"]
    order = list(dict.fromkeys(p["attack"]))
    marks = [(i + shift, paper[d][attack]) for i, attack in enumerate(order)
             for shift, d in ((-0.2, experiments[experiment]), (0.2, reference)) if attack in paper.get(d, {})]
    if marks:
        ax.scatter(*zip(*marks), marker="D", color="black", s=30, zorder=5, label="the paper")
    ax.legend(title="")   # placed where it hides fewest points
    ax.set_title(f"{experiment} ({label} profile)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=20)
fig.tight_layout()
report.save_figure(fig, "verdict", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings
# Computed from the table above: "more robust" needs both the seed interval to exclude zero and McNemar's test to
# reject equality at 5%, in the same direction.

# %%
for s in sentences:
    print(s)
report.write_metrics({"profile": label, "confidence": confidence, "coverage": coverage, "sentences": sentences,
                      "rows": {f"{e}/{a}": {k: (None if pd.isna(v) else v) for k, v in r.items()}
                               for (e, a), r in table.iterrows()}}, "verdict", metrics_dir)
for experiment, atent in experiments.items():
    if experiment not in shown:
        print(f"[{experiment}] not evaluated yet ({coverage[experiment]})")
        continue
    paper = report.paper_numbers(PAPER[experiment])["rows"]
    protocol = next(a for a in paper[atent] if a != "natural")
    claimed = paper[atent][protocol] - paper[reference][protocol]
    aa = table.loc[(experiment, "autoattack")] if (experiment, "autoattack") in table.index else None
    ours = table.loc[(experiment, protocol), "ATENT - PGD-AT"] if (experiment, protocol) in table.index else None
    line = (f"[{experiment}] the paper's advantage of ATENT under {protocol}: {claimed:+.2f} points; ours "
            + ("not measured" if ours is None else f"{ours:+.2f}") + f" ({coverage[experiment]})")
    if aa is not None:
        # the rule of the table: McNemar on the digits and, where two seed pairs give one, the interval over seeds
        on_digits = aa["ATENT - PGD-AT"] > 0 and (pd.isna(aa["p McNemar"]) or aa["p McNemar"] < 0.05)
        over_seeds = pd.isna(aa["low"]) or aa["low"] > 0
        line += (f"; under AutoAttack ({aa_seeds[experiment]}, {aa['digits']} digits per model) ours "
                 f"{aa['ATENT - PGD-AT']:+.2f} points: "
                 + ("the advantage survives." if on_digits and over_seeds else
                    f"the advantage holds on the digits but the interval over seeds [{aa['low']:+.2f}, "
                    f"{aa['high']:+.2f}] includes zero: not firm." if on_digits else
                    "the advantage does not survive."))
    print(line)
    # the audit's gradient-masking checks on the same two models: an advantage measured through a masked gradient
    # would not be one
    for d, audit in audit_files.get(experiment, {}).items():
        masking = last(audit).get("masking")
        if masking:
            failed = [f"{name} ({flag['detail']})" for name, flag in masking["flags"].items() if not flag["passed"]]
            model = report.display_name(seed_base(d)) + f" seed {seed_index(d)}"
            print(f"[{experiment}] masking checks of {model} on {masking['n_examples']} digits: "
                  + (f"{len(masking['flags'])} of {len(masking['flags'])} pass" if not failed
                     else f"{len(masking['flags']) - len(failed)} of {len(masking['flags'])} pass; not: "
                     + "; ".join(failed)))
