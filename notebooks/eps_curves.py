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
# # Accuracy against the attack radius ε, for every defense
#
# **What the preprint shows.** A table reports each defense at one radius; the preprint of the ATENT paper also
# draws accuracy against ε for every defense, under $\ell_2$ and $\ell_\infty$ attacks. A curve says more than a
# point: how fast robustness decays past the training radius, and whether the decay looks like real robustness.
#
# **Why it is also a check.** For a model that is truly robust (not hiding its gradients), accuracy under a fixed
# attack must fall *monotonically* as ε grows, and must reach about zero at a radius large enough to turn any digit
# into another. A curve that flattens or rises is the classic sign of gradient masking (the same test ACT's paper
# uses, its Table 5).
#
# **What is run here.** The last checkpoint of every defense of the `mnist_linf` and `mnist_l2` experiments (the
# Table 1 and 2 runs), attacked with PGD at each radius (step 2.5 ε / steps, Madry's rule, so that every radius can
# be crossed), on the first held-out digits. Extra seeds (`<defense>_seed<N>`) are left out: one curve per defense.
# A profile part-way through its pipeline draws the defenses trained so far and names the others under the table.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiments = {"mnist_linf": [0.0, 0.1, 0.2, 0.3, 0.4], "mnist_l2": [0.0, 1.0, 2.0, 3.0]}  # radii per experiment
n_examples = 500           # first held-out digits
steps = 20                 # PGD steps at every radius
restarts = 1
monotone_tolerance = 1.0   # points of accuracy a curve may rise by (sampling noise) before it is flagged
seed = 0

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import evaluate, plots, report, runs
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
sns.set_theme(style="whitegrid", context="notebook")
rows, untrained = [], []
for experiment, radii in experiments.items():
    exp = prof.experiment(experiment)
    x, y = runs.held_out(prof, experiment, n_examples)
    trained, missing = report.evaluated_runs(runs_dir, label, experiment, report.seed_groups(list(exp.defenses)),
                                             suite="model")
    untrained += [f"{experiment}/{d}" for d in missing]
    for defense in trained:
        t0 = time.time()
        model, _ = runs.trained_model(runs_dir, label, experiment, defense)
        curve = evaluate.eps_curve(model, x, y, exp.threat.norm, radii, steps, restarts=restarts, seed=seed)
        rows += [{"experiment": experiment, "defense": defense, **r} for r in curve]
        print(f"{experiment}/{defense}: " + ", ".join(f"{r['eps']:g}: {r['accuracy']:.1f}%" for r in curve) +
              f"  ({time.time() - t0:.0f} s)")
curves = pd.DataFrame(rows)

# %% [markdown]
# ## The curves
# One panel per threat model; the dashed line is the radius the defenses were trained and tabled at.

# %%
fig, axes = plt.subplots(1, len(experiments), figsize=(5.6 * len(experiments), 4.2), squeeze=False)
for ax, experiment in zip(axes[0], experiments):
    exp = prof.experiment(experiment)
    part = curves[curves.experiment == experiment].assign(defense=lambda d: d.defense.map(report.display_name))
    sns.lineplot(data=part, x="eps", y="accuracy", hue="defense", marker="o", ax=ax, palette=plots.DEFENSE_COLORS)
    ax.axvline(exp.threat.eps, color="0.5", ls="--", lw=1)
    ax.set_xlabel(f"{exp.threat.norm} radius ε")
    ax.set_ylabel("accuracy under PGD (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{experiment}: PGD-{steps}, {len(x)} digits ({label} profile)")
    ax.legend(fontsize=8)
fig.tight_layout()
report.save_figure(fig, "eps_curves", figures_dir, label)
plt.show()

# %% [markdown]
# ## The table and the monotonicity check
# A curve passes when no step to a larger ε raises accuracy by more than `monotone_tolerance` points.

# %%
wide = curves.pivot_table(index=["experiment", "defense"], columns="eps", values="accuracy", sort=False)
wide.columns = [f"eps {c:g}" for c in wide.columns]
rise = curves.groupby(["experiment", "defense"], sort=False)["accuracy"].apply(lambda a: a.diff().max())
wide["largest rise"] = rise.round(2)
wide["monotone"] = rise <= monotone_tolerance
table = wide.round(2).reset_index().set_index("defense")
report.write_table(table, "eps_curves", tables_dir, label,
                   f"Accuracy (%) under PGD-{steps} against the radius, last checkpoints, first {n_examples} "
                   "held-out digits",
                   extra=report.missing_note(untrained, suite="training"))
report.write_metrics({"profile": label, "all_monotone": bool(wide["monotone"].all()),
                      "curves": {f"{e}/{d}": dict(zip(map(str, g.eps), g.accuracy.round(2)))
                                 for (e, d), g in curves.groupby(["experiment", "defense"], sort=False)}},
                     "eps_curves", metrics_dir)
wide

# %% [markdown]
# ## Findings
# Computed from the curves above.

# %%
for experiment in experiments:
    part = curves[curves.experiment == experiment]
    at_max = part[part.eps == part.eps.max()].set_index("defense")["accuracy"]
    area = part.groupby("defense", sort=False).apply(
        lambda g: (g.accuracy.to_numpy()[1:] + g.accuracy.to_numpy()[:-1]).sum() / 2 / (len(g) - 1),
        include_groups=False)
    print(f"{experiment}: mean accuracy over the radii (trapezoid), best first: " +
          ", ".join(f"{report.display_name(d)} {v:.1f}" for d, v in area.sort_values(ascending=False).items()))
    print(f"  at the largest radius {part.eps.max():g}: " +
          ", ".join(f"{report.display_name(d)} {v:.1f}%" for d, v in at_max.items()))
flagged = wide.index[~wide["monotone"]].tolist()
print("every curve falls monotonically" if not flagged else f"curves that rise with eps (possible masking): {flagged}")
