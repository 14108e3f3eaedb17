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
# # Figure S1: training curves
#
# **What the supplement shows.** Benign and robust accuracy on the training and the test set after every epoch of
# ATENT and PGD-AT. The authors decay the learning rate where robust *test* accuracy peaks; a robust training
# accuracy that keeps climbing while robust test accuracy falls is *robust overfitting* (Rice et al.), the reason
# PGD-AT(E), early stopping, appears in the tables.
#
# **What is run here.** Nothing is trained in this notebook: the training engine scored every run after each
# epoch on the monitor digits (clean, and PGD-10 at the experiment's radius, on held-out and on training digits)
# and wrote `metrics.csv`. This notebook draws those files for the runs listed in `defenses`; extra seeds
# (`<defense>_seed<N>`) are drawn as a mean with a band of one standard deviation. `dvc plots show` renders the
# same files without Python.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiments = ["mnist_linf", "mnist_l2"]
defenses = ["pgd_at", "atent_linf", "atent_l2"]   # those an experiment lacks are skipped

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import plots, report
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
sns.set_theme(style="whitegrid", context="notebook")
metrics = ("train_natural", "train_robust", "test_natural", "test_robust")
summary = {}
for experiment in experiments:
    names = [d for d in prof.experiment(experiment).defenses if report.seed_base(d) in defenses]
    curves = report.training_curves(runs_dir, label, experiment, names)
    print(f"{experiment}: {', '.join(names)}; {curves.epoch.max()} epochs")
    fig = plots.training_curves(curves, f"{experiment}: accuracy per epoch on the monitor digits ({label} profile)",
                                metrics=metrics)
    report.save_figure(fig, f"figS1_training_curves_{experiment}", figures_dir, label)
    plt.show()
    curves["defense"] = curves["defense"].map(report.seed_base)
    for d, g in curves.groupby("defense", sort=False):
        per_epoch = g.groupby("epoch")[list(metrics)].mean()
        peak = per_epoch["test_robust"].idxmax()
        last = per_epoch.index.max()
        summary[f"{experiment}/{d}"] = {
            "peak_epoch": int(peak), "peak_test_robust": round(float(per_epoch.loc[peak, "test_robust"]), 2),
            "last_epoch": int(last), "last_test_robust": round(float(per_epoch.loc[last, "test_robust"]), 2),
            "last_train_robust": round(float(per_epoch.loc[last, "train_robust"]), 2),
            "last_gap": round(float(per_epoch.loc[last, "train_robust"] - per_epoch.loc[last, "test_robust"]), 2)}

# %% [markdown]
# ## Where robust test accuracy peaks, and the train-test gap
# `last_gap` is robust training accuracy minus robust test accuracy at the last epoch: the size of robust
# overfitting. `peak_epoch` is where the authors would decay the learning rate.

# %%
table = pd.DataFrame.from_dict(summary, orient="index")
table.index.name = "run"
report.write_table(table, "figS1_training_curves", tables_dir, label,
                   "Figure S1: robust test accuracy at its peak and at the last epoch (monitor digits, %)")
report.write_metrics({"profile": label, **summary}, "figS1_training_curves", metrics_dir)
table

# %% [markdown]
# ## Findings

# %%
for run, s in summary.items():
    drop = s["peak_test_robust"] - s["last_test_robust"]
    print(f"{run}: robust test accuracy peaks at epoch {s['peak_epoch']} ({s['peak_test_robust']:.1f}%), ends at "
          f"{s['last_test_robust']:.1f}% ({drop:.1f} points below the peak); train-test robust gap at the end "
          f"{s['last_gap']:.1f} points")
