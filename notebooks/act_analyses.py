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
# # ACT's analyses, applied to every defense
#
# **Where they come from.** The ACT paper (Arani et al.; docs/method.md, Sources) backs its robustness numbers
# with analyses that do not depend on one attack's step size. Three of them need no extra training and are run here
# on every defense of Table 2:
#
# 1. **Minimal perturbation.** For each digit, the smallest $\ell_\infty$ perturbation that an attack (foolbox's
#    FMN and DeepFool, whichever finds the smaller one, shrunk by a bisection) needs to change the prediction. Its
#    average is an attack-agnostic summary of robustness: a defense whose typical digit needs 0.35 to flip is
#    robust at ε = 0.3, one that needs 0.1 is not. The numbers are upper bounds on the true minimum.
# 2. **Black-box transfer.** PGD examples crafted on one model (the surrogate) and scored on another (the target).
#    A defense that only *hides* its gradients falls further to transferred examples than to white-box ones.
# 3. **Monotonicity in ε.** Accuracy must fall as the radius grows: see the `eps_curves` notebook, which checks
#    every curve.
#
# (ACT's fourth analysis, its α ablation, needs training runs of its own: see `act_alpha.py`.)

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf"
n_minimal = 200            # digits for the minimal-perturbation search
minimal_steps = 100        # FMN and DeepFool steps
n_transfer = 500           # digits for the transfer matrix
transfer_steps = 20        # PGD steps on the surrogate (step 2.5 eps / steps)
seed = 0

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from atentlib import attacks, report, runs
from atentlib.attacks import minimal
from atentlib.config import load_profile
from atentlib.threat import Ball

prof = load_profile(profile)
label = prof.profile
exp = prof.experiment(experiment)
eps = exp.threat.eps
sns.set_theme(style="whitegrid", context="notebook")
defenses = list(report.seed_groups(list(exp.defenses)))
models = {d: runs.trained_model(runs_dir, label, experiment, d)[0] for d in defenses}
print(f"{experiment}: {', '.join(defenses)}; threat {exp.threat.norm} eps = {eps}")

# %% [markdown]
# ## 1. The smallest perturbation that fools each model

# %%
x, y = runs.held_out(prof, experiment, n_minimal)
rows = []
for d, model in models.items():
    torch.manual_seed(seed)
    norms = minimal.minimal_perturbation(model, x, y, exp.threat.norm, steps=minimal_steps)
    s = minimal.summarize(norms)
    rows.append({"defense": d, "mean": s["mean"], "median": s["median"], "already wrong": s["n_already_wrong"],
                 "not found": s["n_not_found"], f"share above eps {eps:g} (%)":
                 100.0 * float((norms > eps).float().mean())})
    print(f"{d}: mean {s['mean']:.3f}, median {s['median']:.3f} ({s['n_found']} found)")
minimal_table = pd.DataFrame(rows).set_index("defense")
report.write_table(minimal_table.round(4), "act_minimal_perturbation", tables_dir, label,
                   f"Smallest {exp.threat.norm} perturbation that fools each model (FMN/DeepFool + bisection), "
                   f"first {len(y)} held-out digits")
minimal_table.round(3)

# %% [markdown]
# ## 2. Transfer: rows craft, columns are attacked
# Each cell is the accuracy (%) of the column's model on PGD examples crafted on the row's model; the diagonal is the
# white-box attack.

# %%
x, y = runs.held_out(prof, experiment, n_transfer)
ball = Ball(exp.threat.norm, eps)
matrix = pd.DataFrame(index=defenses, columns=defenses, dtype=float)
for s_name, surrogate in models.items():
    torch.manual_seed(seed)
    x_adv = torch.cat([attacks.pgd(surrogate, x[i:i + 500], y[i:i + 500], ball, transfer_steps,
                                   2.5 * eps / transfer_steps) for i in range(0, len(y), 500)])
    with torch.no_grad():
        for t_name, target in models.items():   # models are in eval mode
            matrix.loc[s_name, t_name] = 100.0 * (target(x_adv).argmax(1) == y).float().mean().item()
matrix.index.name = "surrogate"
report.write_table(matrix.round(2), "act_transfer", tables_dir, label,
                   f"Accuracy (%) of the column model on PGD-{transfer_steps} examples crafted on the row model "
                   f"(eps = {eps}), first {len(y)} held-out digits")
fig, ax = plt.subplots(figsize=(1.0 * len(defenses) + 2, 0.8 * len(defenses) + 1.5))
sns.heatmap(matrix.rename(index=report.display_name, columns=report.display_name), annot=True, fmt=".0f",
            cmap="mako", vmin=0, vmax=100, ax=ax, cbar_kws={"label": "accuracy (%)"})
ax.set_xlabel("attacked (target)")
ax.set_ylabel("crafted on (surrogate)")
ax.set_title(f"Transfer of PGD-{transfer_steps} examples, eps = {eps} ({label} profile)")
report.save_figure(fig, "act_transfer", figures_dir, label)
plt.show()

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
plot_df = minimal_table.reset_index().assign(defense=lambda d: d.defense.map(report.display_name))
sns.barplot(data=plot_df, x="defense", y="mean", ax=ax, color=sns.color_palette("deep")[0])
ax.axhline(eps, color="0.3", ls="--", lw=1, label=f"eps = {eps}")
ax.set_ylabel(f"mean minimal {exp.threat.norm} perturbation")
ax.set_title(f"How far each model's digits are from a wrong prediction ({label} profile)")
ax.legend()
ax.tick_params(axis="x", rotation=20)
report.save_figure(fig, "act_minimal_perturbation", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
white = pd.Series({d: matrix.loc[d, d] for d in defenses})
worst_transfer = matrix.where(~pd.DataFrame(
    [[s == t for t in defenses] for s in defenses], index=defenses, columns=defenses)).min()
masked = [d for d in defenses if worst_transfer[d] < white[d] - 1.0]
report.write_metrics({"profile": label,
                      "minimal_mean": minimal_table["mean"].round(4).to_dict(),
                      "white_box": white.round(2).to_dict(), "worst_transfer": worst_transfer.round(2).to_dict(),
                      "transfer_below_white_box": masked}, "act_analyses", metrics_dir)
order = minimal_table["mean"].sort_values(ascending=False)
print("mean minimal perturbation, largest first: " +
      ", ".join(f"{report.display_name(d)} {v:.3f}" for d, v in order.items()))
print("white-box accuracy minus worst transferred accuracy: " +
      ", ".join(f"{report.display_name(d)} {white[d] - worst_transfer[d]:+.1f}" for d in defenses))
print("no model falls further to transferred examples than to its own white-box attack" if not masked else
      f"models that fall further to transferred examples (a masking sign): {masked}")
