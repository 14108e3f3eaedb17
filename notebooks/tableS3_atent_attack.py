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
# # Table S3: ATENT's sampler as an attack
#
# **What the supplement reports.** The chain that ATENT trains on can itself attack: run the $\ell_\infty$ sampler
# with PGD-20's budget (20 steps) and keep its last iterate. The supplement attacks the linf-ATENT CIFAR-10 model with
# both (accuracy %, PGD-20 / ATENT-20): 79.83 / 79.95 at 2/255, 73.35 / 73.76 at 4/255, 57.23 / 59.69 at 8/255,
# 39.37 / 47.53 at 12/255. These are *accuracies*: the ATENT-20 numbers are higher at every radius, so there the
# sampler is a slightly *weaker* attack than PGD-20, by 8 points at the largest radius. The question for us: is it
# a usable attack at all, and how does it compare with PGD at the same step?
#
# **How the two attacks differ.** Both take signed-gradient steps inside the ball. PGD starts at a uniform random
# point and projects after every step; ATENT starts at a random *corner* of the ball, adds a little Gaussian noise to
# each step, and (in the authors' code) projects only at the end, so its intermediate iterates may leave the ball.
#
# **What is run here.** The last checkpoints of the `mnist_linf` defenses listed in `defenses`, attacked at each
# radius by PGD-20 and ATENT-20 with the same step, 2.5 ε / 20 (so that both can cross the ball), on the first
# held-out digits. On MNIST the radii are scaled to the digits' threat model, ε = 0.3.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf"
defenses = ["atent_linf", "pgd_at", "sgd"]
radii = [0.1, 0.2, 0.3, 0.4]
steps = 20
n_examples = 500
seed = 0

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from atentlib import attacks, evaluate, report, runs
from atentlib.config import load_profile
from atentlib.threat import Ball

prof = load_profile(profile)
label = prof.profile
sns.set_theme(style="whitegrid", context="notebook")
x, y = runs.held_out(prof, experiment, n_examples)
paper = report.paper_numbers("tableS3_atent_attack")
rows = []
for defense in defenses:
    model, _ = runs.trained_model(runs_dir, label, experiment, defense)
    for eps in radii:
        step = 2.5 * eps / steps
        torch.manual_seed(seed)
        pgd = evaluate.attack_accuracy(model, x, y, lambda xb, yb: attacks.pgd(model, xb, yb, Ball("linf", eps),
                                                                                steps, step))
        torch.manual_seed(seed)
        atent = evaluate.attack_accuracy(model, x, y, lambda xb, yb: attacks.atent_attack(model, xb, yb, eps, steps,
                                                                                           step))
        rows.append({"defense": defense, "eps": eps, "pgd20": pgd, "atent20": atent})
        print(f"{defense} eps {eps:g}: PGD-20 {pgd:.1f}%, ATENT-20 {atent:.1f}%")
results = pd.DataFrame(rows)

# %% [markdown]
# ## Table
# Accuracy (%) under each attack; `atent20 - pgd20` below zero means ATENT-20 is the stronger attack there.

# %%
table = results.set_index(["defense", "eps"])
table["atent20 - pgd20"] = table["atent20"] - table["pgd20"]
table = table.round(2)
report.write_table(table, "tableS3_atent_attack", tables_dir, label,
                   f"Table S3 on MNIST: PGD-20 and ATENT-20 (step 2.5 eps / 20), first {len(y)} held-out digits",
                   note=f"Profile `{label}`; the paper's Table S3 is CIFAR-10 (linf-ATENT WRN-34-10): " +
                   "; ".join(f"{r['eps']}: PGD-20 {r['pgd20']}, ATENT-20 {r['atent20']}" for r in paper["rows"]) +
                   ". Radii differ (CIFAR x/255 vs MNIST); compare the pattern, not the numbers.")
report.write_metrics({"profile": label, **{f"{d}/{e:g}": {"pgd20": round(p, 2), "atent20": round(a, 2)}
                                           for d, e, p, a in results[["defense", "eps", "pgd20", "atent20"]].itertuples(
                                               index=False)}}, "tableS3_atent_attack", metrics_dir)
table

# %% [markdown]
# ## Picture
# Solid lines PGD-20, dashed lines ATENT-20, one colour per defense.

# %%
long = results.melt(id_vars=["defense", "eps"], value_vars=["pgd20", "atent20"], var_name="attack",
                    value_name="accuracy").assign(defense=lambda d: d.defense.map(report.display_name))
fig, ax = plt.subplots(figsize=(6.5, 4.2))
sns.lineplot(data=long, x="eps", y="accuracy", hue="defense", style="attack", markers=True, ax=ax)
ax.set_xlabel("linf radius ε")
ax.set_ylabel("accuracy (%)")
ax.set_ylim(0, 100)
ax.set_title(f"PGD-20 vs ATENT-20 on MNIST ({label} profile)")
ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
report.save_figure(fig, "tableS3_atent_attack", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
for d, g in results.groupby("defense", sort=False):
    stronger = g[g.atent20 < g.pgd20].eps.tolist()
    weaker = g[g.atent20 > g.pgd20].eps.tolist()
    print(f"{report.display_name(d)}: ATENT-20 stronger than PGD-20 at eps {stronger or 'none'}, weaker at "
          f"{weaker or 'none'}; largest difference {(g.atent20 - g.pgd20).abs().max():.1f} points")
