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
# # Tables 3 and S1: CIFAR-10 (linf and l2)
#
# **What the paper claims.** On CIFAR-10 with an $\ell_\infty$ radius of 8/255 (Table 3, WideResNet-34-10), ATENT
# matches TRADES and MART under PGD-20 and CW (57.2 / 62.3 %) while keeping a higher clean accuracy (85.7 %) than
# both, and beats PGD-AT by 10 points under PGD-20. With an $\ell_2$ threat (Table S1, ResNet-20), ATENT sits
# between PGD-AT and MMA at $\epsilon_2$ = 0.5 and is the most robust at $\epsilon_2$ = 1.
#
# **What is run here.** This notebook serves both tables: `experiment` picks `cifar_linf` (Table 3) or `cifar_l2`
# (Table S1) from the profile, `table_name` the paper's numbers. CIFAR-10 is *not* available offline, so the first
# cell checks the disk for the real files:
# - **present:** every defense of the experiment is trained (or resumed from its last checkpoint) by the same
#   engine as the MNIST runs and evaluated with the experiment's attack suite; the table puts our numbers beside
#   the paper's.
# - **absent:** the notebook says what is missing and how to provide it, and the table and figure carry the paper's
#   numbers only. Nothing stands in for the real images.
#
# The quick profile trains a ResNet-20 on a subset for a few epochs, a far smaller budget than the paper's
# 76-epoch WideResNet: its numbers are labelled with the profile and are not a reproduction.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "cifar_linf"                # cifar_linf (Table 3) or cifar_l2 (Table S1)
table_name = "table3_cifar_linf"         # the key of params/paper_numbers.yaml, and the name of the outputs
early_stopped = "pgd_at"                 # its best checkpoint is the PGD-AT(E) row (when the data exist)
progress = False

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from atentlib import data, optional_data, plots, report
from atentlib.config import load_profile

prof = load_profile(profile)
exp = prof.experiment(experiment)
label = prof.profile
paper = report.paper_numbers(table_name)
sns.set_theme(style="whitegrid", context="notebook")
print(report.describe_experiment(exp))
missing = optional_data.missing_data(prof, exp.dataset)
print(f"{exp.dataset} found: training and evaluating." if missing is None else f"NOT RUN. {missing}")

# %% [markdown]
# ## Train and evaluate (only with the real data)
# Each run resumes from its last checkpoint, so an interrupted notebook picks up where it stopped.

# %%
if missing is None:
    root = data.data_root(exp.dataset, prof.data[exp.dataset], label)
    bundle = data.load(exp.dataset, prof.data[exp.dataset], root)
    for d in exp.defenses:
        optional_data.train_and_evaluate(prof, experiment, d, bundle, runs_dir, progress=progress)
    ours = report.results_frame(runs_dir, label, experiment, list(exp.defenses))
    summary = report.table_summary(ours, list(exp.defenses), early_stopped)
    metrics = report.metric_columns(summary)
else:  # the paper's rows, ours empty: the table and figure say so
    metrics = list(paper["columns"])
    summary = pd.DataFrame(np.nan, index=list(paper["rows"]), columns=metrics)
    summary["seeds"] = 0
summary

# %% [markdown]
# ## Beside the paper

# %%
caption = f"{paper['source']}; ours: {exp.model}, {exp.threat.norm} eps = {exp.threat.eps:.4g}"
if missing is not None:
    caption += f". OURS NOT RUN: {missing}"
table = report.beside_paper(summary, table_name, label)
report.write_table(table, table_name, tables_dir, label, caption)
report.write_metrics({"profile": label, "status": "ok" if missing is None else "not run: CIFAR-10 missing",
                      **({} if missing is not None else report.summary_metrics(summary, label))},
                     table_name, metrics_dir)
table

# %% [markdown]
# ## The picture
# Bars: our accuracies; black diamonds: the paper's. Without the data only the diamonds are drawn.

# %%
fig = plots.accuracy_bars(summary, metrics, f"CIFAR-10 {exp.threat.norm}, eps = {exp.threat.eps:.4g} ({label} profile)",
                          paper["rows"], paper_metrics={m: m for m in metrics})
if missing is not None:
    fig.axes[0].text(0.5, 0.5, "ours: not run (CIFAR-10 files missing)", transform=fig.axes[0].transAxes,
                     ha="center", va="center", fontsize=12, color="firebrick",
                     bbox={"facecolor": "white", "edgecolor": "firebrick"})
report.save_figure(fig, table_name, figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
if missing is not None:
    print(f"Not run: {missing}")
else:
    for line in report.findings(summary, paper["rows"], {m: m for m in metrics}):
        print(line)
