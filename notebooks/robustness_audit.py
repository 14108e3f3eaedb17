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
# # Can the robust numbers be believed? An attack audit with gradient-masking checks
#
# **Why this notebook.** A robust accuracy is only as good as the attack behind it. The ATENT papers report PGD,
# CW and DeepFool; published defenses that looked robust under cross-entropy PGD have fallen to 0% under
# AutoAttack. So each model of the experiment is attacked here by a whole suite on the same held-out digits:
#
# * FGSM (one step), PGD-20 (the paper's protocol), PGD-40 (can cross the ball), foolbox's PGD-40 (an independent
#   implementation of the same attack: it must agree with ours), CW-linf (PGD on the margin loss, as TRADES and
#   MART evaluate), ATENT-20 (the linf ATENT sampler used as an attack with PGD-20's budget, Table S3), and
#   **AutoAttack** (Croce & Hein's own code, `pyautoattack`, standard version);
# * the **masking checks** of `atentlib.masking`: accuracy never rises as ε grows, a huge ε breaks every point, more
#   steps or restarts never help the model, a black-box attack (Square) is never stronger than white-box ones, and
#   PGD sits above (and close to) AutoAttack.
#
# The audit is slow (AutoAttack), so it runs on the last checkpoint and the first `n_examples` held-out digits
# given in the profile's `audit:` section; the table says how many.

# %% tags=["parameters"]
profile = "quick"
runs_dir = "runs"
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
experiment = "mnist_linf"

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from atentlib import report
from atentlib.config import load_profile

prof = load_profile(profile)
exp = prof.experiment(experiment)
label = prof.profile
defenses = exp.audit_defenses
sns.set_theme(style="whitegrid")
audits = {d: report.load_eval(runs_dir, label, experiment, d, suite="audit")["checkpoints"]["last"]
          for d in defenses}
print(f"profile {label}; defenses audited: {', '.join(defenses)}")

# %% [markdown]
# ## Accuracy (%) under each attack

# %%
rows = {d: {"natural": a["natural"], **{k: v["accuracy"] for k, v in a["attacks"].items()}} for d, a in audits.items()}
table = pd.DataFrame(rows).T.round(2)
table.index.name = "defense"
table["n_examples"] = [audits[d]["n_examples"] for d in table.index]
paper = report.paper_numbers(f"table2_{experiment}") if experiment == "mnist_linf" else None
if paper:
    table["CW-linf (paper)"] = [paper["rows"].get(d, {}).get("cw") for d in table.index]
name = f"robustness_audit_{experiment}"
n_audit = int(table["n_examples"].iloc[0])
subsets = report.subset_attacks(exp.audit)  # attacks the profile runs on fewer digits
AUDIT_NOTE = (f"Every number here comes from the {label} profile"
              + ("" if label == "paper" else " (reduced data and epochs), not a reproduction of the paper's")
              + f"; all attacks ran on the same first {n_audit} held-out test images"
              + ("".join(f"; {k} on the first {m} only" for k, m in subsets.items())) + ".")
report.write_table(table, name, tables_dir, label, f"Attack audit, {experiment} (accuracy %, last checkpoint)",
                   note=AUDIT_NOTE)
table

# %% [markdown]
# ## Masking checks
# Each check passes (✓), fails (✗) or was not measured (–). The numbers behind each flag are in the JSON.

# %%
flags = pd.DataFrame({d: {k: {True: "✓", False: "✗", None: "–"}[f["passed"]]
                          for k, f in a["masking"]["flags"].items()} for d, a in audits.items() if "masking" in a}).T
flags.index.name = "defense"
report.write_table(flags, f"{name}_masking", tables_dir, label, f"Gradient-masking checks, {experiment}",
                   note=AUDIT_NOTE)
flags

# %%
attack_order = [c for c in table.columns if c not in {"n_examples", "CW-linf (paper)"}]
long = table[attack_order].reset_index().melt(id_vars="defense", var_name="attack", value_name="accuracy")
fig, ax = plt.subplots(figsize=(9, 4))
sns.barplot(data=long, x="attack", y="accuracy", hue="defense", ax=ax)
ax.set_ylim(0, 100)
ax.set_ylabel("accuracy (%)")
ax.legend(title="defense", bbox_to_anchor=(1.01, 1), loc="upper left")
ax.set_title(f"{experiment}: every attack on the same {int(table['n_examples'].iloc[0])} held-out digits "
             f"({label} profile)")
plt.setp(ax.get_xticklabels(), rotation=20)
report.save_figure(fig, name, figures_dir, label)
plt.show()

# %% [markdown]
# ## Findings (computed)

# %%
metrics = {"profile": label}
for d, a in audits.items():
    acc = {k: v["accuracy"] for k, v in a["attacks"].items()}
    found = {"natural": a["natural"], **acc}
    lines = []
    if {"pgd20", "autoattack"} <= acc.keys():
        found["pgd20_minus_autoattack"] = round(acc["pgd20"] - acc["autoattack"], 2)
        lines.append(f"AutoAttack sits {found['pgd20_minus_autoattack']:.2f} points below PGD-20")
    if {"pgd40", "foolbox_pgd40"} <= acc.keys():
        found["ours_minus_foolbox_pgd40"] = round(acc["pgd40"] - acc["foolbox_pgd40"], 2)
        lines.append(f"our PGD-40 and foolbox's differ by {found['ours_minus_foolbox_pgd40']:+.2f} points")
    if {"atent20", "fgsm"} <= acc.keys():
        found["atent20_at_least_as_strong_as_fgsm"] = acc["atent20"] <= acc["fgsm"]
        lines.append(f"ATENT-20 {'is' if acc['atent20'] <= acc['fgsm'] else 'is NOT'} at least as strong as FGSM "
                     f"({acc['atent20']:.2f} vs {acc['fgsm']:.2f})")
    if "masking" in a:
        found["masking_passed"] = a["masking"]["passed"]
        failed = [k for k, f in a["masking"]["flags"].items() if f["passed"] is False]
        lines.append("every masking check passed" if not failed else f"masking checks FAILED: {', '.join(failed)}")
    metrics[d] = found
    print(f"{d}: " + "; ".join(lines))
report.write_metrics(metrics, name, metrics_dir)
