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
# accuracy that keeps climbing while robust held-out accuracy falls is *robust overfitting* (Rice et al.), the
# reason PGD-AT(E), early stopping, appears in the tables.
#
# **What we measure instead of the test set.** Choosing anything by the test digits and then reporting accuracy on
# them flatters the choice. Here the held-out side of the curves is a *validation* split carved out of the training
# digits (`data.n_val`, stratified, fixed seed); the test digits are touched by evaluation only. Both monitor samples
# (training and validation) are fixed-seed random draws with every class in proportion.
#
# **What is run here.** Nothing is trained in this notebook: the training engine scored every run after each
# epoch on the monitor digits (clean, and PGD-10 at the experiment's radius, on validation and on training digits)
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
metrics = ("train_natural", "train_robust", "val_natural", "val_robust")
summary = {}
# the runs whose training has finished (all of them once the pipeline is through; part-way, those done so far)
trained = {e: report.split_evaluated(runs_dir, label, e, [d for d in prof.experiment(e).defenses
                                                          if report.seed_base(d) in defenses], suite="training")
           for e in experiments}
for e, (_, left) in trained.items():
    if left:
        print(f"{e}: not trained yet: {', '.join(left)}")
experiments = [e for e in experiments if trained[e][0]]
if not experiments:
    raise FileNotFoundError(f"no run of {', '.join(trained)} has finished training under the {label} profile: "
                            "run the training stages first (dvc repro)")
runs_json = [report.load_run(runs_dir, label, e, d) for e in experiments for d in trained[e][0]]
n_val_mon = min(r["validation"]["monitored"] for r in runs_json)
n_train_mon = min(r["train_config"]["monitor_examples"] for r in runs_json)
for experiment in experiments:
    names = trained[experiment][0]
    curves = report.training_curves(runs_dir, label, experiment, names)
    print(f"{experiment}: {', '.join(names)}; {curves.epoch.max()} epochs")
    fig = plots.training_curves(curves, f"{experiment}: accuracy per epoch on the monitor digits ({label} profile)",
                                metrics=metrics)
    report.save_figure(fig, f"figS1_training_curves_{experiment}", figures_dir, label)
    plt.show()
    curves["run"] = curves["defense"]
    curves["defense"] = curves["defense"].map(report.seed_base)
    for d, g in curves.groupby("defense", sort=False):
        per_epoch = g.groupby("epoch")[list(metrics)].mean()
        peak = per_epoch["val_robust"].idxmax()
        last = per_epoch.index.max()
        # the plateau: from which epoch robust validation accuracy stays within twice the monitor's binomial noise
        # of its final level (how the profile's number of epochs is judged)
        level = per_epoch["val_robust"].iloc[-3:].mean() / 100
        band = 2 * 100 * (level * (1 - level) / n_val_mon) ** 0.5
        plateau = report.plateau_epoch(list(per_epoch["val_robust"]), band)
        summary[f"{experiment}/{d}"] = {
            "seeds": int(g["run"].nunique()), "plateau_epoch": plateau,
            "peak_epoch": int(peak), "peak_val_robust": round(float(per_epoch.loc[peak, "val_robust"]), 2),
            "last_epoch": int(last), "last_val_robust": round(float(per_epoch.loc[last, "val_robust"]), 2),
            "last_train_robust": round(float(per_epoch.loc[last, "train_robust"]), 2),
            "last_gap": round(float(per_epoch.loc[last, "train_robust"] - per_epoch.loc[last, "val_robust"]), 2)}

# %% [markdown]
# ## Where robust validation accuracy peaks, and the train-validation gap
# `last_gap` is robust training accuracy minus robust validation accuracy at the last epoch (means over seeds): the
# size of robust overfitting. `peak_epoch` is where the authors would decay the learning rate. `plateau_epoch` is
# the first epoch from which robust validation accuracy stays within twice the monitor's binomial noise of its final
# level (the mean of the last three epochs): epochs after it add nothing this monitor can measure.

# %%
table = pd.DataFrame.from_dict(summary, orient="index")
table.index.name = "run"
report.write_table(table, "figS1_training_curves", tables_dir, label,
                   "Figure S1: robust validation accuracy at its peak and at the last epoch, and the robust "
                   f"train-validation gap (%, {n_train_mon} training and {n_val_mon} validation digits)")
report.write_metrics({"profile": label, **summary}, "figS1_training_curves", metrics_dir)
table

# %% [markdown]
# ## Findings

# %%
# the monitor's binomial noise on n digits at accuracy p: sd = 100 sqrt(p (1 - p) / n) points
for run, s in summary.items():
    drop = s["peak_val_robust"] - s["last_val_robust"]
    p = s["last_val_robust"] / 100
    noise = 100 * (p * (1 - p) / n_val_mon) ** 0.5
    falls = drop > 2 * noise
    print(f"{run}: robust validation accuracy peaks at epoch {s['peak_epoch']} ({s['peak_val_robust']:.1f}%) and "
          f"ends at {s['last_val_robust']:.1f}% ({drop:.1f} points below the peak, "
          f"{'more' if falls else 'less'} than twice the monitor's noise of {noise:.1f} points); robust "
          f"train-validation gap at the end {s['last_gap']:.1f} points.")
    print("   " + (f"plateau from epoch {s['plateau_epoch']} of {s['last_epoch']}: the robust validation accuracy "
                   "stays within twice the monitor's noise of its final level from there on."
                   if s["plateau_epoch"] is not None else
                   "no plateau yet: the last epochs still move by more than twice the monitor's noise."))
    print("   " + ("robust validation accuracy falls after its peak: a sign of robust overfitting."
                   if falls and s["last_gap"] > 2 * noise else
                   "no sign of robust overfitting within these epochs: validation accuracy has not fallen from its "
                   "peak by more than the monitor's noise." if not falls else
                   "validation accuracy falls, but training accuracy does not pull away: not robust overfitting."))
