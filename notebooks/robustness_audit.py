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
# # Can the robust numbers be believed? An attack audit with gradient-masking checks
#
# **Why this notebook.** A robust accuracy is only as good as the attack behind it. The ATENT papers report PGD,
# CW and DeepFool; published defenses that looked robust under cross-entropy PGD have fallen to 0% under
# AutoAttack. So each model of the experiment is attacked here by a whole suite on the same held-out digits:
#
# * FGSM (one step), PGD-20 (the paper's protocol), PGD-40 (can cross the ball), foolbox's PGD-40 (an independent
#   implementation of the same attack: it must agree with ours), CW-linf (PGD on the margin loss, as TRADES and
#   MART evaluate), ATENT-20 (the linf ATENT sampler used as an attack with PGD-20's budget, Table S3), and
#   **AutoAttack** (Croce & Hein's own code, `pyautoattack`, standard version);
# * the **masking checks** of `atentlib.masking`: accuracy never rises as ε grows, a huge ε breaks every point, more
#   steps or restarts never help the model, a black-box attack (Square) is never stronger than white-box ones, and
#   PGD sits above (and close to) AutoAttack;
# * AutoAttack **attack by attack**: the accuracy after each of its four attacks, which says whether the digits that
#   PGD missed fell to a better-tuned PGD, to a margin loss, or only to an attack that uses no gradient.
#
# The audit is slow (AutoAttack), so it runs on the last checkpoint and the first `n_examples` held-out digits
# given in the profile's `audit:` section; the table says how many.

# %% tags=["parameters"]
profile = "quick"
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf"

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import report
from atentlib.config import load_profile

prof = load_profile(profile)
exp = prof.experiment(experiment)
label = prof.profile
defenses = exp.audit_defenses
sns.set_theme(style="whitegrid")
audits = {d: report.load_eval(runs_dir, label, experiment, d, suite="audit")["checkpoints"]["last"]
          for d in defenses}
print(f"profile {label}; defenses audited: {', '.join(defenses)}")

# %% [markdown]
# ## Accuracy (%) under each attack

# %%
rows = {d: {"natural": a["natural"], **{k: v["accuracy"] for k, v in a["attacks"].items()}} for d, a in audits.items()}
table = pd.DataFrame(rows).T.round(2)
table.index.name = "defense"
table["n_examples"] = [audits[d]["n_examples"] for d in table.index]
paper = report.paper_numbers(f"table2_{experiment}") if experiment == "mnist_linf" else None
if paper:
    table["CW-linf (paper)"] = [paper["rows"].get(d, {}).get("cw") for d in table.index]
name = f"robustness_audit_{experiment}"
n_audit = int(table["n_examples"].iloc[0])
subsets = report.subset_attacks(exp.audit)  # attacks the profile runs on fewer digits
AUDIT_NOTE = (f"Every number here comes from the {label} profile"
              + ("" if label == "paper" else " (reduced data and epochs), not a reproduction of the paper's")
              + f"; all attacks ran on the same first {n_audit} held-out test images"
              + ("".join(f"; {k} on the first {m} only" for k, m in subsets.items())) + ".")
report.write_table(table, name, tables_dir, label, f"Attack audit, {experiment} (accuracy %, last checkpoint)",
                   note=AUDIT_NOTE)
table

# %% [markdown]
# ## Masking checks
# Each check passes (✓), fails (✗) or was not measured (–). The numbers behind each flag are in the JSON.

# %%
flags = pd.DataFrame({d: {k: {True: "✓", False: "✗", None: "–"}[f["passed"]]
                          for k, f in a["masking"]["flags"].items()} for d, a in audits.items() if "masking" in a}).T
flags.index.name = "defense"
report.write_table(flags, f"{name}_masking", tables_dir, label, f"Gradient-masking checks, {experiment}",
                   note=AUDIT_NOTE)
flags

# %%
attack_order = [c for c in table.columns if c not in {"n_examples", "CW-linf (paper)"}]
long = table[attack_order].reset_index().melt(id_vars="defense", var_name="attack", value_name="accuracy")
fig, ax = plt.subplots(figsize=(9, 4))
sns.barplot(data=long, x="attack", y="accuracy", hue="defense", ax=ax)
ax.set_ylim(0, 100)
ax.set_ylabel("accuracy (%)")
ax.legend(title="defense", bbox_to_anchor=(1.01, 1), loc="upper left")
ax.set_title(f"{experiment}: every attack on the same {int(table['n_examples'].iloc[0])} held-out digits "
             f"({label} profile)")
plt.setp(ax.get_xticklabels(), rotation=20)
report.save_figure(fig, name, figures_dir, label)
plt.show()

# %% [markdown]
# ## Where AutoAttack's margin over PGD comes from
# AutoAttack is a cascade: each of its attacks runs only on the digits that every attack before it failed on.
#
# 1. **APGD-CE**: PGD on the cross-entropy, with a step size that starts large (2ε) and halves when progress
#    stalls, and a momentum term.
# 2. **APGD-T**: the same on a targeted margin loss (DLR), against each of the 9 other classes in turn.
# 3. **FAB-T**: a minimal-perturbation attack that walks to the nearest decision boundary.
# 4. **Square**: a random search that never uses a gradient.
#
# The accuracy after each of them says what kind of attack found the digits that PGD missed:
# * **APGD-CE closes most of the gap.** Then PGD's fixed small step was the weakness, not the model.
# * **APGD-T takes the rest.** Then the cross-entropy's gradient points badly, and a margin loss does better.
#   CW-linf, PGD on a margin, often sees the same.
# * **Only Square breaks more digits.** Then the gradients are masked.
#
# The dashed line of each colour is that model's accuracy under PGD-40 on the same digits.

# %%
def pgd_reference(acc: dict) -> str | None:
    """The suite's PGD-40 column, else its first PGD column (the one AutoAttack is set against)."""
    return "pgd40" if "pgd40" in acc else next((k for k in acc if k.startswith("pgd")), None)


cascade = {}
for d, a in audits.items():
    aa, ref = a["attacks"].get("autoattack", {}), pgd_reference(a["attacks"])
    if "after_each" in aa and ref:
        cascade[d] = {"natural": a["natural"], f"{ref} (ours)": a["attacks"][ref]["accuracy"],
                      **{f"after {k}": v for k, v in aa["after_each"].items() if k != "clean"}}
if cascade:
    steps = pd.DataFrame(cascade).T.round(2)
    pgd_col = next(c for c in steps.columns if c.endswith("(ours)"))  # the same suite for every defense
    steps.index.name = "defense"
    report.write_table(steps, f"{name}_autoattack_steps", tables_dir, label,
                       f"AutoAttack step by step, {experiment} (accuracy % after each attack of its cascade)",
                       note=AUDIT_NOTE)
    stages = [c for c in steps.columns if c.startswith("after ")]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    palette = dict(zip(steps.index, sns.color_palette("deep", len(steps))))
    for d, row in steps.iterrows():
        ax.plot(["natural"] + [c.removeprefix("after ") for c in stages], [row["natural"]] + list(row[stages]),
                "o-", color=palette[d], label=f"{d}: AutoAttack, attack by attack")
        ax.axhline(row[pgd_col], color=palette[d], ls="--", lw=1, label=f"{d}: {pgd_col}")
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_xlabel("after each attack of the cascade")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title(f"{experiment}: where AutoAttack's margin over PGD comes from ({label} profile, "
                 f"{n_audit} digits)", fontsize=10)
    report.save_figure(fig, f"{name}_autoattack_steps", figures_dir, label)
    plt.show()
else:
    steps = None
    print("no AutoAttack step-by-step counts in these audit results (run the audit stage again to record them)")
steps

# %% [markdown]
# ## Findings (computed)

# %%
metrics = {"profile": label}
for d, a in audits.items():
    acc = {k: v["accuracy"] for k, v in a["attacks"].items()}
    found = {"natural": a["natural"], **acc}
    lines = []
    if {"pgd20", "autoattack"} <= acc.keys():
        found["pgd20_minus_autoattack"] = round(acc["pgd20"] - acc["autoattack"], 2)
        lines.append(f"AutoAttack sits {found['pgd20_minus_autoattack']:.2f} points below PGD-20")
    if {"pgd40", "foolbox_pgd40"} <= acc.keys():
        found["ours_minus_foolbox_pgd40"] = round(acc["pgd40"] - acc["foolbox_pgd40"], 2)
        lines.append(f"our PGD-40 and foolbox's differ by {found['ours_minus_foolbox_pgd40']:+.2f} points")
    if {"atent20", "fgsm"} <= acc.keys():
        found["atent20_at_least_as_strong_as_fgsm"] = acc["atent20"] <= acc["fgsm"]
        lines.append(f"ATENT-20 {'is' if acc['atent20'] <= acc['fgsm'] else 'is NOT'} at least as strong as FGSM "
                     f"({acc['atent20']:.2f} vs {acc['fgsm']:.2f})")
    if "masking" in a:
        found["masking_passed"] = a["masking"]["passed"]
        failed = [k for k, f in a["masking"]["flags"].items() if f["passed"] is False]
        lines.append("every masking check passed" if not failed else f"masking checks FAILED: {', '.join(failed)}")
    if steps is not None and d in steps.index:
        row = steps.loc[d]
        gap = row[pgd_col] - row[stages[-1]]
        broke = {c.removeprefix("after "): round(before - after, 2)
                 for c, before, after in zip(stages, [row["natural"]] + list(row[stages[:-1]]), row[stages])}
        found["autoattack_points_broken_by_each_attack"] = broke
        found["pgd_minus_autoattack"] = round(gap, 2)
        if gap > 0:
            first = row[pgd_col] - row[stages[0]]
            found["share_of_gap_closed_by_apgd_ce"] = round(first / gap, 3)
            lines.append(f"{pgd_col} {row[pgd_col]:.2f}% vs AutoAttack {row[stages[-1]]:.2f}%; the accuracy each "
                         f"attack took off, in points: " + ", ".join(f"{k} {v:.2f}" for k, v in broke.items())
                         + f"; APGD-CE alone leaves {row[stages[0]]:.2f}%, {first:+.2f} points against PGD: "
                         f"{100 * first / gap:.0f}% of the {gap:.2f}-point gap")
        else:
            lines.append(f"AutoAttack is not below {pgd_col} ({row[stages[-1]]:.2f}% vs {row[pgd_col]:.2f}%)")
    metrics[d] = found
    print(f"{d}: " + "; ".join(lines))
report.write_metrics(metrics, name, metrics_dir)
