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
# # ACT's α ablation
#
# **What the ACT paper claims** (Arani et al., Table 1; docs/method.md, Sources). ACT trains a robust model G
# and a natural model F side by side, each also imitating the other through a KL term weighted by α. On CIFAR-10
# (ResNet-18) the robust model's PGD-20 accuracy rises with α, from 48.9 % at α = 0.1 to 55.1 % at α = 0.9, with
# its clean accuracy almost flat; at α = 1 (no cross-entropy at all) training fails (10 %).
#
# **What is run here.** The profile's `mnist_linf_act_alpha` experiment trains ACT on MNIST (linf, ε = 0.3) at a
# few values of α and nothing else changed; the `evaluate` stage attacks each robust model G. The α of each run is
# read from its configuration. The paper's numbers are CIFAR-10's: compare the *trend*, not the level.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf_act_alpha"
table_name = "act_alpha"   # the key of params/paper_numbers.yaml, and the name of the outputs

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import report
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
exp = prof.experiment(experiment)
paper = report.paper_numbers(table_name)
sns.set_theme(style="whitegrid", context="notebook")
print(report.describe_experiment(exp))
ours = report.results_frame(runs_dir, label, experiment, list(exp.defenses))
last = ours[ours.checkpoint == "last"].set_index("defense")
attacks_run = [c for c in report.result_metrics(last) if c != "natural"]
table = pd.DataFrame([{"alpha": cfg.alpha, "natural": last.loc[d, "natural"],
                       **{a: last.loc[d, a] for a in attacks_run}} for d, cfg in exp.defenses.items()])
paper_rows = pd.DataFrame(paper["rows"]).rename(columns={"natural": "natural (paper)", "pgd20": "pgd20 (paper)"})
table = table.merge(paper_rows, on="alpha", how="outer").sort_values("alpha").set_index("alpha")
table.columns = [c if "(paper)" in c else f"{c} ({label})" for c in table.columns]

# %% [markdown]
# ## Ours beside the paper's
# Accuracy (%) of the robust model G at the last epoch. The paper's rows are CIFAR-10 (ResNet-18, ε = 8/255):
# the same α, another data set.

# %%
report.write_table(table.round(2), table_name, tables_dir, label,
                   f"ACT's alpha on MNIST linf eps = {exp.threat.eps} ({exp.train.epochs} epochs), beside "
                   f"{paper['source']}")
report.write_metrics({"profile": label, **{f"alpha_{a:g}": {c: round(float(v), 3) for c, v in r.items() if pd.notna(v)}
                                           for a, r in table.iterrows()}}, table_name, metrics_dir)
table.round(2)

# %% [markdown]
# ## The trend
# Solid lines: ours (MNIST); dashed: the paper's (CIFAR-10), on their own scale at the right.

# %%
fig, ax = plt.subplots(figsize=(7.5, 4.2))
mine = table.dropna(subset=[f"natural ({label})"])
for c, marker in ((f"natural ({label})", "^"), *((f"{a} ({label})", "o") for a in attacks_run)):
    ax.plot(mine.index, mine[c], marker=marker, label=c)
ax.set_xlabel("α (weight of the mimicry terms)")
ax.set_ylabel(f"MNIST accuracy (%), {label} profile")
ax.set_ylim(0, 100)
twin = ax.twinx()
theirs = table.dropna(subset=["pgd20 (paper)"])
twin.plot(theirs.index, theirs["pgd20 (paper)"], "k--", marker="D", label="PGD-20 (paper, CIFAR-10)")
twin.set_ylabel("CIFAR-10 PGD-20 (%), paper")
fig.legend(loc="lower left", bbox_to_anchor=(0.1, 0.15), fontsize=8)
ax.set_title(f"ACT: robust model G against α ({label} profile)")
fig.tight_layout()
report.save_figure(fig, table_name, figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
m = f"{attacks_run[0]} ({label})"
trend = mine[m].diff().dropna()
print(f"{attacks_run[0]} against alpha: " + ", ".join(f"alpha {a:g}: {v:.2f}%" for a, v in mine[m].items()))
print("rises with alpha at every step" if (trend > 0).all() else
      f"not monotone in alpha: changes {', '.join(f'{d:+.2f}' for d in trend)} (the paper: rising up to 0.9)")
