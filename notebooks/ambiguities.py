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
# # Beyond the papers: does the reading of ATENT matter?
#
# **The question.** The paper's algorithms and the authors' public code do not say the same thing in several places
# (docs/method.md, "Readings"). Every run of this study has to pick one reading; this notebook asks whether the pick
# changes the result, or whether the difference drowns in the noise of training. It runs once per norm.
#
# | norm | setting | authors' code (our default) | the paper's literal reading |
# |---|---|---|---|
# | linf | `step_direction` | a signed gradient step, η'·sign(∇ₓL), as PGD does | the raw gradient η'·∇ₓL |
# | linf | `projection` | project xᴷ − x onto the ball once, at the last step | clip every step (`every_step`) |
# | linf | `model_mode` | the model in train mode while sampling | eval mode (as TRADES does) |
# | linf | `start` | a random corner of the ball, x + r·sign(N(0, I)) | a normal δ at the ball's scale, x + r·N(0, I) |
# | l2 | `projection` | project onto the ε-ball after every step | none: only the pull-back keeps the chain near x |
# | l2 | `pullback` | x' + η'·g/‖g‖ + γ(x − x'): the pull-back not scaled by η' | x' + η'·(g/‖g‖ + γ(x − x')) |
# | l2 | `start` | a random point of the ε-ball | a small normal δ, x + 0.001·N(0, I) |
#
# **What is run here.** The profile's ambiguity experiment (one per norm) trains ATENT once per reading, each
# changing one setting of the reference (the authors' code), or, for `paper_literal`, every setting at once, with
# three seeds each (`<name>_seed<N>`). The `evaluate` stage attacks every run at the threat radius; this notebook
# reads those results. What each variant changes is read from its configuration, not from its name.
#
# **What to look at.** A setting matters if the variant's mean moves away from the reference by more than the
# seeds scatter. With three seeds per group the Welch t-test is weak: read the p-values as a rough guide, and the
# strip plot (every seed is a dot) as the evidence.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf_ambiguity"
reference = "authors_code"   # the group every other variant is compared with
metric = "pgd20"             # the attack (a name of the evaluation suite) the comparison is made under
table_name = "ambiguities"   # the stem of the table, figure and metrics files

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import report, variants
from atentlib.config import load_profile

prof = load_profile(profile)
label = prof.profile
exp = prof.experiment(experiment)
sns.set_theme(style="whitegrid", context="notebook")
groups = report.seed_groups(list(exp.defenses))
ours = report.results_frame(runs_dir, label, experiment, list(exp.defenses))
per_seed = ours[ours.checkpoint == "last"].set_index("defense")
if metric not in per_seed:
    raise KeyError(f"metric {metric!r} is not in the evaluation of {experiment}; it has "
                   f"{[c for c in per_seed.columns if c not in ('checkpoint', 'epoch', 'n_test')]}")
changes = {g: variants.describe_changes(variants.config_changes(exp.defenses[reference], exp.defenses[g]))
           for g in groups}
print(report.describe_experiment(exp))
for g, c in changes.items():
    print(f"  {g} ({len(groups[g])} seeds): {c}")

# %% [markdown]
# ## Each reading against the reference
# Accuracy (%) at the last epoch on the held-out digits: mean and standard deviation over seeds, the difference of
# the means from the reference, and Welch's p-value for that difference.

# %%
rows = []
for m in ("natural", metric):
    cmp = variants.against_reference(per_seed, groups, reference, m)
    cmp.columns = pd.MultiIndex.from_product([[m], cmp.columns])
    rows.append(cmp)
table = pd.concat(rows, axis=1)
table.insert(0, "change", pd.Series(changes))
flat = table.copy()
flat.columns = ["change"] + [f"{m} {c}" for m, c in table.columns[1:]]
kind = exp.defenses[reference].kind.replace("atent_", "")
report.write_table(flat.round(3), table_name, tables_dir, label,
                   f"{kind}-ATENT readings on MNIST ({exp.train.epochs} epochs, {len(groups[reference])} seeds each): "
                   f"accuracy at eps = {exp.threat.eps}",
                   note=f"Every number comes from the {label} profile; the papers report no such comparison.")
report.write_metrics({"profile": label, "metric": metric,
                      **{g: {"mean": round(float(r[(metric, "mean")]), 3),
                             "sd": round(float(r[(metric, "sd")]), 3),
                             "minus_reference": round(float(r[(metric, "minus_reference")]), 3)}
                         for g, r in table.iterrows()}},
                     table_name, metrics_dir)
flat.round(2)

# %% [markdown]
# ## Every seed
# Each dot is one training run; the bar is the mean and one standard deviation over the seeds. The grey band is the
# reference's mean ± one standard deviation.

# %%
long = pd.concat([per_seed.loc[members, ["natural", metric]].assign(variant=g) for g, members in groups.items()])
fig, axes = plt.subplots(1, 2, figsize=(13, 0.55 * len(groups) + 2.2), sharey=True)
for ax, m in zip(axes, ("natural", metric)):
    ref = long[long.variant == reference][m]
    ax.axvspan(ref.mean() - ref.std(ddof=1), ref.mean() + ref.std(ddof=1), color="0.85", zorder=0)
    sns.pointplot(data=long, x=m, y="variant", errorbar="sd", linestyle="none", color="0.2", capsize=0.2, ax=ax)
    sns.stripplot(data=long, x=m, y="variant", hue="variant", legend=False, size=7, alpha=0.8, ax=ax)
    ax.set_xlabel(f"{m} accuracy (%)")
    ax.set_ylabel("")
axes[0].set_yticks(range(len(groups)), [f"{g}\n({changes[g]})" for g in groups], fontsize=8)
fig.suptitle(f"{kind}-ATENT: its readings, {len(groups[reference])} seeds each ({label} profile)")
fig.tight_layout()
report.save_figure(fig, table_name, figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings

# %%
ref_sd = table.loc[reference, (metric, "sd")]
for g in groups:
    if g == reference:
        continue
    d, p = table.loc[g, (metric, "minus_reference")], table.loc[g, (metric, "p_welch")]
    size = abs(d) / ref_sd if ref_sd > 0 else float("inf")
    verdict = "beyond" if size > 2 else "within"
    print(f"{g} ({changes[g]}): {metric} {table.loc[g, (metric, 'mean')]:.2f} ± {table.loc[g, (metric, 'sd')]:.2f} "
          f"vs {table.loc[reference, (metric, 'mean')]:.2f} ± {ref_sd:.2f}, {d:+.2f} points "
          f"({size:.1f} reference sds: {verdict} two sds; Welch p = {p:.3f})")

# %% [markdown]
# ## Where the chains end
# The threat model allows perturbations of size ε. For each reading, the chain of its seed-0 model (its own
# settings) is run on the first held-out digits and the distance of its last iterate from x is measured in the
# threat's norm: a reading whose chain ends beyond ε trains on points the threat model does not contain.

# %%
import torch

from atentlib import runs
from atentlib.samplers import build_sampler
from atentlib.threat import per_sample_norm

n_chain = 200
x_chain, y_chain = runs.held_out(prof, experiment, n_chain)
torch.manual_seed(0)
ends = {}
for g, members in groups.items():
    model, _ = runs.trained_model(runs_dir, label, experiment, members[0])
    cfg = exp.defenses[members[0]]
    dist = per_sample_norm(build_sampler(cfg, exp.threat.eps).sample(model, x_chain, y_chain) - x_chain,
                           exp.threat.norm).flatten()
    ends[g] = {"median distance": float(dist.median()), "max distance": float(dist.max()),
               "beyond eps (%)": float((dist > exp.threat.eps * (1 + 1e-4)).float().mean() * 100)}
ends = pd.DataFrame.from_dict(ends, orient="index")
print(f"{exp.threat.norm} distance of x^K from x over {len(y_chain)} held-out digits (eps = {exp.threat.eps}):")
ends.round(3)

# %% [markdown]
# **How to read a large difference.** A change can matter because it changes the idea or because it changes a
# scale. The raw step is the second kind: a signed step moves every pixel by exactly η', while a raw step moves it by
# η' times that pixel's gradient, which for a trained network's cross-entropy is usually far smaller than one. At the
# same η' the raw-step chain therefore stays close to its start, ATENT trains on nearly clean inputs, and robustness
# suffers. The paper's literal reading would need its own, much larger η' (an ambiguity of scale the paper does not
# settle); the settings whose difference stays within the seeds' spread can be read either way.
