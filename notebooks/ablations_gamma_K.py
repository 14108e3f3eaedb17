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
# # Ablations: ATENT's coupling γ and chain length K
#
# **What the papers say.** Two knobs decide what ATENT trains on. **γ** couples the samples to the data point: in
# the $\ell_\infty$ version the samples live in a ball of radius $1/\gamma$, so a small γ explores far, a large γ
# stays close to the clean digit. **K** is the number of Langevin steps per batch: the cost of a step is about K + 1
# forward-backward passes, so time per epoch grows linearly in K (Table S4: K = 5 costs half of K = 10), and the
# papers' ablation shows robust accuracy saturating as K grows.
#
# **What is run here.** The profile's `mnist_linf_ablation` experiment trains linf-ATENT several times at a smaller
# budget than Table 2, changing one knob at a time from a reference run (K = 10, γ = 3.33, radius 0.3 = ε,
# η' = 0.04): a K sweep at γ = 3.33 and a γ sweep at K = 10, with the same Langevin step η' throughout (so the
# chain's path length K·η' grows with K, as in the papers' sweep). Each run is evaluated at
# the *fixed* threat radius ε = 0.3 with PGD-20 and PGD-40 (step 0.01) by the `evaluate` stage; this notebook reads
# those results and the seconds per epoch the engine recorded. The values of K and γ come from each run's
# configuration, not from its name.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf_ablation"
reference = "atent_K10"    # the run both sweeps pass through

# %%
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from atentlib import report
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
exp = prof.experiment(experiment)
sns.set_theme(style="whitegrid", context="notebook")
ours = report.results_frame(runs_dir, label, experiment, list(exp.defenses))
last = ours[ours.checkpoint == "last"].set_index("defense")
rows = []
for d, cfg in exp.defenses.items():
    run = report.load_run(runs_dir, label, experiment, d)
    secs = run["seconds_per_epoch"]
    rows.append({"defense": d, "K": cfg.K, "gamma": cfg.gamma, "radius": round(1 / cfg.gamma, 3),
                 "natural": last.loc[d, "natural"], "pgd20": last.loc[d, "pgd20"], "pgd40": last.loc[d, "pgd40"],
                 "seconds_per_epoch": float(np.median(secs))})
runs_table = pd.DataFrame(rows).set_index("defense")
ref = exp.defenses[reference]
k_sweep = runs_table[runs_table.gamma == ref.gamma].sort_values("K")
g_sweep = runs_table[runs_table.K == ref.K].sort_values("gamma")
print(f"{exp.train.epochs} epochs per run; K sweep at gamma {ref.gamma}: K = {k_sweep.K.tolist()}; "
      f"gamma sweep at K = {ref.K}: gamma = {g_sweep.gamma.tolist()}")

# %% [markdown]
# ## The runs
# Accuracy (%) at the last epoch on the held-out digits, and the median seconds per training epoch (wall clock on
# the machine that ran the `train` stage; the monitor's evaluation is not included).

# %%
report.write_table(runs_table.round(2), "ablations_gamma_K", tables_dir, label,
                   f"Ablations of linf-ATENT on MNIST ({exp.train.epochs} epochs per run; eval at eps = 0.3)",
                   note=f"Every number comes from the {label} profile, at a smaller budget than Table 2's runs; the "
                        "papers show these ablations as a figure, not a table.")
report.write_metrics({"profile": label, **{d: {k: (round(float(v), 3) if isinstance(v, float) else int(v))
                                               for k, v in r.items()} for d, r in runs_table.iterrows()}},
                     "ablations_gamma_K", metrics_dir)
runs_table.round(2)

# %% [markdown]
# ## Robust accuracy against γ and K, and time against K
# Left: the γ sweep (the dashed line marks γ = 1/ε, where the samples' ball is the threat ball; each tick gives γ
# and, below it, the radius r = 1/γ). Middle: the K sweep.
# Right: seconds per epoch against K with a least-squares line: Table S4's claim is that it is linear.

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for m, style in (("pgd20", "o-"), ("pgd40", "s--"), ("natural", "^:")):
    axes[0].plot(g_sweep.gamma, g_sweep[m], style, label=m)
    axes[1].plot(k_sweep.K, k_sweep[m], style, label=m)
axes[0].axvline(1 / exp.threat.eps, color="0.5", ls="--", lw=1)
axes[0].set_xscale("log")
# Ticks at the swept γ only (no log-axis minor labels), each labelled with γ over its radius 1/γ; a γ closer to the
# previous labelled one than MIN_TICK_GAP of the axis width (log scale) gets no label, so labels cannot overlap.
MIN_TICK_GAP = 0.2
x_lo, x_hi = axes[0].get_xlim()             # the autoscaled range, margins and the dashed line included
span = float(np.log10(x_hi / x_lo)) or 1.0
tick_gammas, last_pos = [], -np.inf
for g in np.sort(g_sweep.gamma.unique()):
    pos = float(np.log10(g / x_lo)) / span
    if pos - last_pos >= MIN_TICK_GAP:
        tick_gammas.append(g)
        last_pos = pos
axes[0].xaxis.set_minor_locator(mticker.NullLocator())
axes[0].set_xticks(tick_gammas, [f"{g:g}\n(r {1 / g:.2g})" for g in tick_gammas])
axes[0].set_xlabel("γ (r = sample radius 1/γ)")
axes[1].set_xlabel("K (Langevin steps per batch)")
for ax in axes[:2]:
    ax.set_ylabel(f"accuracy at eps = {exp.threat.eps:g} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
slope, intercept = np.polyfit(k_sweep.K, k_sweep.seconds_per_epoch, 1)
fit = slope * k_sweep.K + intercept
r2 = 1 - ((k_sweep.seconds_per_epoch - fit) ** 2).sum() / ((k_sweep.seconds_per_epoch
                                                            - k_sweep.seconds_per_epoch.mean()) ** 2).sum()
axes[2].plot(k_sweep.K, k_sweep.seconds_per_epoch, "o", label="measured")
axes[2].plot(k_sweep.K, fit, "-", color="0.4", label=f"{slope:.2f} s per step + {intercept:.1f} s (R² {r2:.3f})")
axes[2].set_xlabel("K")
axes[2].set_ylabel("seconds per epoch")
axes[2].legend(fontsize=8)
fig.suptitle(f"linf-ATENT ablations on MNIST ({label} profile)")
fig.tight_layout()
report.save_figure(fig, "ablations_gamma_K", figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
best_g = g_sweep.pgd40.idxmax()
print(f"gamma sweep (K = {ref.K}): PGD-40 " + ", ".join(f"gamma {r.gamma:g}: {r.pgd40:.1f}%" for r in
                                                        g_sweep.itertuples()) +
      f"; best at gamma {g_sweep.loc[best_g, 'gamma']:g} (radius {g_sweep.loc[best_g, 'radius']:g})")
print(f"K sweep (gamma {ref.gamma}): PGD-40 " + ", ".join(f"K {r.K}: {r.pgd40:.1f}%" for r in k_sweep.itertuples()))
gain = k_sweep.pgd40.diff().iloc[1:]
print("PGD-40 gain per step up the K grid: " + ", ".join(f"{g:+.1f}" for g in gain))
print(f"time per epoch = {slope:.2f} s x K + {intercept:.1f} s, R^2 = {r2:.3f}; K = {k_sweep.K.max()} costs "
      f"{k_sweep.seconds_per_epoch.iloc[-1] / k_sweep.seconds_per_epoch.iloc[0]:.1f}x K = {k_sweep.K.min()}")
