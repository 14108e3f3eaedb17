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
# # Fine-tuning a benign model with ATENT
#
# **What the paper claims.** ATENT need not start from scratch: fine-tuning a benignly trained CIFAR-10
# WideResNet-34-10 with ATENT for 20 epochs at a small learning rate (1e-4) gives 52.1 % under PGD-20 at 8/255,
# a few points below ATENT trained from scratch (57.2 %) for a fraction of the cost.
#
# **What is run here.** On MNIST (linf, ε = 0.3): the `finetune` stage starts from the benign SGD model of Table 2
# (`train.init_from`) and trains it further with ATENT, and with PGD-AT at the same budget for comparison. This
# notebook sets the fine-tuned models beside their starting point and beside ATENT trained from scratch, each on
# the held-out digits under the evaluation suite of its experiment, and shows how robust accuracy grew per epoch.
#
# **What to look at.** How much of the from-scratch robustness the fine-tuned models reach, and at what share of
# its training epochs.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf_finetune"
base = ["mnist_linf", "sgd"]              # [experiment, defense] of the model that was fine-tuned
scratch = ["mnist_linf", "atent_linf"]    # [experiment, defense] of ATENT trained from scratch

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import plots, report
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
exp = prof.experiment(experiment)
sns.set_theme(style="whitegrid", context="notebook")
print(report.describe_experiment(exp))
print(f"initialised from {exp.train_config(next(iter(exp.defenses))).init_from}")

# %% [markdown]
# ## The runs side by side
# Accuracy (%) at the last epoch. "epochs" counts the epochs each model was trained *in this run* (the fine-tuned
# models also carry the benign model's training).

# %%
rows = {}
for name, (e, d) in {"benign start": base, "from scratch": scratch,
                     **{f"fine-tuned {d}": (experiment, d) for d in exp.defenses}}.items():
    frame = report.results_frame(runs_dir, label, e, [d])
    last = frame[frame.checkpoint == "last"].iloc[0]
    run = report.load_run(runs_dir, label, e, d)
    rows[name] = {"defense": report.display_name(d), "experiment": e, "epochs": run["epochs"],
                  **{m: last[m] for m in ("natural", "pgd20", "cw") if m in last}}
table = pd.DataFrame.from_dict(rows, orient="index")
table.index.name = "model"
report.write_table(table.round(2), "finetune", tables_dir, label,
                   f"Fine-tuning the benign MNIST model with ATENT (linf, eps = {exp.threat.eps})",
                   note=f"Every number comes from the {label} profile (reduced data and epochs), not a reproduction "
                        "of the paper's fine-tuning result.")
report.write_metrics({"profile": label, **{k: {m: round(float(v), 3) for m, v in r.items() if isinstance(v, float)}
                                           for k, r in rows.items()}}, "finetune", metrics_dir)
table

# %% [markdown]
# ## Robust accuracy per epoch
# The monitor's PGD-10 accuracy on the validation digits after each epoch; the fine-tuned runs start from the benign
# model, the from-scratch run from random weights.

# %%
curves = pd.concat([report.training_curves(runs_dir, label, experiment, list(exp.defenses)).assign(start="fine-tuned"),
                    report.training_curves(runs_dir, label, scratch[0], [scratch[1]]).assign(start="from scratch")])
curves["defense"] = curves["defense"].map(report.display_name) + " (" + curves["start"] + ")"
fig = plots.training_curves(curves, f"Fine-tuning against training from scratch ({label} profile)")
report.save_figure(fig, "finetune", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
ref = table.loc["from scratch"]
for name, r in table.iterrows():
    if name.startswith("fine-tuned"):
        print(f"{name}: PGD-20 {r.pgd20:.2f}% after {r.epochs} epochs from the benign model "
              f"(which had {table.loc['benign start', 'pgd20']:.2f}%); ATENT from scratch {ref.pgd20:.2f}% after "
              f"{ref.epochs} epochs: {100 * r.pgd20 / ref.pgd20:.0f}% of it")
