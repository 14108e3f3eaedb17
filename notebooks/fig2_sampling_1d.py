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
# # Figure 2: what ATENT's sampler draws, in one dimension
#
# **What the paper claims.** ATENT replaces the worst-case perturbation of adversarial training by an *average*
# over perturbed points $x'$ near a data point $x$, drawn from a Gibbs-like density that favours high loss:
#
# $$p(x' \mid x) \;\propto\; \exp\!\Big(L(x') - \tfrac{\gamma}{2}(x' - x)^2\Big),$$
#
# and trains on the *data-entropy loss* $\mathbb{E}_{x' \sim p}[L(x')]$ (Eq. 4 of the journal paper; the same
# definition as in `00_start_here.py` and `docs/method.md`, "The data-entropy loss"). Figure 2 of the paper shows,
# for one 1-D loss and $x = 0.4$, a histogram of Langevin samples on top of this density, and the average loss over
# the samples.
#
# **The sampler.** ATENT draws $x'$ with (unadjusted) Langevin dynamics, started at $x' = x$:
#
# $$x' \leftarrow x' + \eta\,\big(L'(x') - \gamma (x' - x)\big) + \sigma\sqrt{2\eta}\;\mathcal{N}(0, 1).$$
#
# Two facts decide what these samples are, and this notebook shows both:
#
# 1. **σ is a temperature.** The update is the Langevin chain of $p^{1/\sigma^2}$, not of $p$. With $\sigma = 1$ it
#    samples $p$ itself; the paper's $\sigma = 10^{-3}$ samples $p^{10^6}$, which is a spike at a mode: in practice
#    a noisy gradient ascent that stays at the mode nearest the start.
# 2. **The step η biases the chain.** Without a Metropolis correction the chain's stationary law is off by
#    $O(\eta)$; a smaller step (and enough steps to forget the start) shrinks the error.
#
# **What is run here.** The papers do not give Figure 2's loss, so we chose one (`atentlib.langevin1d.BumpyLoss`):
# three Gaussian bumps on a gentle bounded slope, which with $\gamma = 1$ gives $p(x' \mid 0.4)$ three modes.
# Every density is exact (quadrature on a fine grid); every sample comes from `langevin_chains`, the update above.
# Each KS test uses **one sample per chain** (the final state of independent chains all started at $x$), so
# the samples are i.i.d. and the KS p-value means what it says.
#
# **What to look at.** (a) the σ = 1 histogram lies on $p$; (b) the σ = 0.3 histogram lies on the sharper
# $p^{1/0.09}$, not on $p$, and the paper's σ piles up at one mode; (c) the loss averaged over a chain's
# iterates approaches $\mathbb{E}_p[L]$ only after the chain has forgotten its start; (d) the KS distance to $p$
# falls with the step until it reaches the sampling-noise floor.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one
figures_dir = "figures"
tables_dir = "tables"
metrics_dir = "metrics"
x = 0.4                    # the data point of the paper's Figure 2
gamma = 1.0                # coupling of x' to x
step = 0.005               # eta, the Langevin step
n_chains = 20000           # independent chains, one KS sample each
n_steps = 2000             # steps per chain (horizon n_steps * step)
burn_in = 500              # steps discarded before averaging in panel (c)
sigmas = [0.3, 0.001]      # noise scales set beside sigma 1 in panel (b)
running_chains = 500       # chains whose running loss average panel (c) draws
bias_steps = [0.1, 0.05, 0.02, 0.01, 0.005]  # steps of the bias sweep, panel (d), at the same horizon
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from scipy import stats

from atentlib import report
from atentlib.config import load_profile
from atentlib.langevin1d import (BumpyLoss, average_loss, cdf_function, exact_density, exact_expected_loss,
                                 langevin_chains)

label = load_profile(profile).profile
loss = BumpyLoss()
horizon = n_steps * step
sns.set_theme(style="whitegrid", context="notebook")
print(f"profile {label}: x = {x}, gamma = {gamma}, step = {step}, {n_chains} chains x {n_steps} steps "
      f"(horizon {horizon:g}), sigmas compared: {sigmas}")

# %% [markdown]
# ## The loss and the density
# $L$ has bumps at −0.3, 0.35 and 0.95. The quadratic coupling keeps $p$ near $x$: its modes are where
# $L'(x') = \gamma (x' - x)$ and $L$ is locally concave.

# %%
grid = np.linspace(x - 3.0, x + 3.0, 1201)
p_exact = exact_density(grid, x, gamma, loss)
modes = grid[1:-1][(p_exact[1:-1] > p_exact[:-2]) & (p_exact[1:-1] > p_exact[2:])]
exact_el = exact_expected_loss(x, gamma, loss)
print("modes of p(x'|x):", np.round(modes, 3), "| L at the modes:", np.round(loss(modes), 3))
print(f"L(x) = {float(loss(x)):.4f}; exact data-entropy loss E_p[L] = {exact_el:.4f}")


# %% [markdown]
# ## (a) σ = 1 samples p itself
# The final states of `n_chains` chains, against the exact $p(x' \mid x)$, with a one-sample KS test.

# %%
def final_states(sigma, step_=step, n_steps_=n_steps, n=n_chains, seed_=seed):
    """One sample per chain: the state after n_steps_ steps (i.i.d. across chains)."""
    return langevin_chains(x, gamma, loss, step_, sigma, n, n_steps_, burn_in=n_steps_ - 1, seed=seed_)[-1]


z1 = final_states(1.0)
ks1 = stats.kstest(z1, cdf_function(x, gamma, loss, temperature=1.0))
se1 = float(loss(z1).std() / np.sqrt(z1.size))
avg1 = average_loss(z1, loss)
print(f"sigma = 1: KS statistic {ks1.statistic:.4f}, p-value {ks1.pvalue:.3f} (n = {z1.size})")
print(f"average loss over the samples {avg1:.4f} ± {se1:.4f} (s.e.) vs exact E_p[L] {exact_el:.4f}")

# %% [markdown]
# ## (b) σ < 1 samples a tempered density
# Each σ is tested against $p^{1/\sigma^2}$ (what the update targets) and against $p$ (what one might expect).

# %%
tempered = {}
for s in sigmas:
    z = final_states(s)
    T = s**2
    ks_t = stats.kstest(z, cdf_function(x, gamma, loss, temperature=T))
    ks_p = stats.kstest(z, cdf_function(x, gamma, loss, temperature=1.0))
    tempered[s] = dict(samples=z, ks_tempered=ks_t, ks_p=ks_p, avg=average_loss(z, loss),
                       se=float(loss(z).std() / np.sqrt(z.size)), exact=exact_expected_loss(x, gamma, loss, T))
    print(f"sigma = {s:g}: vs p^(1/sigma^2): KS {ks_t.statistic:.4f} (p = {ks_t.pvalue:.3g}); "
          f"vs p: KS {ks_p.statistic:.4f} (p = {ks_p.pvalue:.3g}); samples in [{z.min():.4f}, {z.max():.4f}]; "
          f"average loss {tempered[s]['avg']:.4f} vs exact tempered {tempered[s]['exact']:.4f}")

# %% [markdown]
# ## (c) The average loss as the chain runs
# ATENT estimates $\mathbb{E}_p[L]$ by averaging $L$ over the iterates of a chain started at $x$. Here, for
# `running_chains` chains with σ = 1, the running average over iterates $1..k$ (ATENT's use: no burn-in) and over
# iterates `burn_in`$+1..k$. Both converge to the exact value; the first carries the memory of the start $x$,
# which sits on a bump of $L$, for many steps.

# %%
traj = langevin_chains(x, gamma, loss, step, 1.0, running_chains, n_steps, burn_in=0, seed=seed + 1)
losses = loss(traj)                                  # (n_steps, running_chains)
k = np.arange(1, n_steps + 1)
run_all = np.cumsum(losses, 0) / k[:, None]
after = losses[burn_in:]
run_burn = np.cumsum(after, 0) / np.arange(1, len(after) + 1)[:, None]
final_all, final_burn = run_all[-1], run_burn[-1]
print(f"after {n_steps} steps, mean over {running_chains} chains of the per-chain average: "
      f"{final_all.mean():.4f} (no burn-in), {final_burn.mean():.4f} (burn-in {burn_in}); exact {exact_el:.4f}")
print(f"after 10 steps (a chain as short as the papers' CIFAR K = 10): {run_all[min(9, n_steps - 1)].mean():.4f}")

# %% [markdown]
# ## (d) The step bias
# The same horizon (`n_steps * step` time units) with larger and smaller steps, σ = 1, compared with $p$.
# The dotted line is the KS distance that sampling noise alone gives with this many chains (the median of the
# KS statistic under the null, $\approx 0.83/\sqrt{n}$): below it, the bias is no longer visible.

# %%
bias = {}
for h in sorted(bias_steps, reverse=True):
    m = max(2, int(round(horizon / h)))
    zb = final_states(1.0, step_=h, n_steps_=m, seed_=seed + 2)
    r = stats.kstest(zb, cdf_function(x, gamma, loss, temperature=1.0))
    bias[h] = (float(r.statistic), float(r.pvalue))
    print(f"step {h:g} ({m} steps): KS {r.statistic:.4f}, p = {r.pvalue:.3g}")
noise_floor = float(stats.kstwo(n_chains).median())

# %% [markdown]
# ## The figure

# %%
pal = sns.color_palette("deep")
fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
lo, hi = np.quantile(z1, [0.0005, 0.9995])
view = (grid >= lo - 0.3) & (grid <= hi + 0.3)

# (a) sigma = 1
ax = axes[0, 0]
ax.hist(z1, bins=80, density=True, color=pal[0], alpha=0.45, label=f"{n_chains:,} Langevin samples, σ = 1")
ax.plot(grid[view], p_exact[view], color=pal[0], lw=2.2, label=r"exact $p(x'\,|\,x)$")
ax.axvline(x, color="0.3", ls="--", lw=1, label=f"the data point x = {x}")
ax.set_xlim(grid[view][0], grid[view][-1])
ax.set_xlabel("x'")
ax.set_ylabel("density")
axl = ax.twinx()
axl.plot(grid[view], loss(grid[view]), color=pal[3], lw=1.4, ls="-.", label="loss L(x') (right axis)")
axl.set_ylabel("L(x')", color=pal[3])
axl.tick_params(axis="y", colors=pal[3])
axl.grid(False)
h1, l1 = ax.get_legend_handles_labels()
h2, l2 = axl.get_legend_handles_labels()
ax.set_ylim(0, p_exact.max() * 1.4)             # headroom for the legend
lv = loss(grid[view])
axl.set_ylim(lv.min() - 0.05, lv.max() + 0.45 * (lv.max() - lv.min()))
ax.legend(h1 + h2, l1 + l2, loc="upper center", ncol=2, fontsize=8, framealpha=0.95)
ax.set_title(f"(a) σ = 1 samples p: KS = {ks1.statistic:.3f}, p-value = {ks1.pvalue:.2f}", fontsize=11)

# (b) tempered
ax = axes[0, 1]
grid_b = np.linspace(x - 1.2, x + 1.2, 2401)
ax.plot(grid_b, exact_density(grid_b, x, gamma, loss), color="0.5", lw=1.5, ls="--", label="p (σ = 1)")
spikes = []
for i, (s, r) in enumerate(tempered.items()):
    z = r["samples"]
    if z.std() > 0.02:                       # wide enough to draw as a histogram
        c = pal[1 + i % 9]
        ax.hist(z, bins=80, density=True, color=c, alpha=0.4,
                label=f"σ = {s:g} samples (KS vs p: {r['ks_p'].statistic:.2f})")
        ax.plot(grid_b, exact_density(grid_b, x, gamma, loss, s**2), color=c, lw=2.2,
                label=f"$p^{{1/σ^2}}$, σ = {s:g} (KS = {r['ks_tempered'].statistic:.3f})")
    else:
        spikes.append((s, z))
for j, (s, z) in enumerate(spikes):
    ax.axvspan(z.min(), z.max(), color="crimson", alpha=0.9, lw=2)
    ax.annotate(f"σ = {s:g}: all {z.size:,} samples\nin [{z.min():.3f}, {z.max():.3f}]",
                xy=(z.mean(), ax.get_ylim()[1] * (0.55 - 0.15 * j)),
                xytext=(x + 0.35, ax.get_ylim()[1] * (0.6 - 0.15 * j)),
                fontsize=8.5, color="crimson", arrowprops=dict(arrowstyle="->", color="crimson"))
ax.set_xlabel("x'")
ax.set_ylabel("density")
ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
ax.set_title("(b) σ < 1 samples the tempered density $p^{1/σ^2}$", fontsize=11)

# (c) running average of L
ax = axes[1, 0]
for run, start, c, name in ((run_all, 1, pal[2], "average of iterates 1..k"),
                            (run_burn, burn_in + 1, pal[4], f"average of iterates {burn_in + 1}..k")):
    kk = np.arange(start, start + len(run))
    q10, q90 = np.quantile(run, [0.1, 0.9], axis=1)
    ax.fill_between(kk, q10, q90, color=c, alpha=0.2)
    ax.plot(kk, run.mean(1), color=c, lw=2, label=f"{name} (mean; band: 10–90% of {running_chains} chains)")
ax.axhline(exact_el, color="black", lw=1.5, label=f"exact $E_p[L]$ = {exact_el:.3f}")
ax.axhline(float(loss(x)), color="0.5", lw=1, ls=":", label=f"L(x) = {float(loss(x)):.3f} (the start)")
ax.set_xscale("log")
ax.set_xlabel("k, Langevin steps (σ = 1)")
ax.set_ylabel("average loss")
ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
ax.set_title(f"(c) average loss over a chain: {final_burn.mean():.3f} after {n_steps} steps "
             f"(exact {exact_el:.3f})", fontsize=11)

# (d) step bias
ax = axes[1, 1]
hs = np.array(sorted(bias))
ks_b = np.array([bias[h][0] for h in hs])
ax.plot(hs, ks_b, "o-", color=pal[3], lw=2, label=f"KS distance to p, {n_chains:,} chains, horizon {horizon:g}")
ax.axhline(noise_floor, color="0.4", ls=":", label=f"sampling-noise level (median KS under p) = {noise_floor:.4f}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("step η")
ax.set_ylabel("KS statistic")
ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
ax.set_title("(d) the step biases the chain; the bias shrinks with η", fontsize=11)

fig.suptitle(f"Figure 2: ATENT's Langevin sampler in 1-D, x = {x}, γ = {gamma:g}, η = {step:g} ({label} profile)",
             fontsize=13)
fig.tight_layout(rect=(0, 0.01, 1, 0.97))
report.save_figure(fig, "fig2_sampling_1d", figures_dir, label)
plt.show()

# %%
metrics = {
    "profile": label, "x": x, "gamma": gamma, "step": step, "n_chains": n_chains, "n_steps": n_steps,
    "sigma_1": {"ks_statistic": round(float(ks1.statistic), 5), "ks_pvalue": round(float(ks1.pvalue), 5),
                "average_loss": round(avg1, 5), "average_loss_se": round(se1, 5),
                "exact_expected_loss": round(exact_el, 5)},
    "tempered": {f"sigma_{s:g}": {"ks_statistic_vs_tempered": round(float(r["ks_tempered"].statistic), 5),
                                  "ks_pvalue_vs_tempered": round(float(r["ks_tempered"].pvalue), 5),
                                  "ks_statistic_vs_p": round(float(r["ks_p"].statistic), 5),
                                  "average_loss": round(r["avg"], 5),
                                  "exact_expected_loss_tempered": round(r["exact"], 5)}
                 for s, r in tempered.items()},
    "running_average": {"no_burn_in": round(float(final_all.mean()), 5),
                        "after_burn_in": round(float(final_burn.mean()), 5), "burn_in": burn_in},
    "step_bias_ks": {f"{h:g}": round(v[0], 5) for h, v in bias.items()},
    "ks_noise_floor": round(noise_floor, 5),
}
report.write_metrics(metrics, "fig2_sampling_1d", metrics_dir)

# %% [markdown]
# ## Findings
# Computed from the runs above, not written by hand.

# %%
verdict = "consistent with" if ks1.pvalue > 0.01 else "detectably different from"
print(f"- With σ = 1, {n_chains:,} Langevin samples (step {step:g}, {n_steps} steps) are {verdict} the exact "
      f"p(x'|x = {x}): KS {ks1.statistic:.4f}, p-value {ks1.pvalue:.3f}. Their average loss {avg1:.4f} "
      f"(± {se1:.4f}) estimates the data-entropy loss {exact_el:.4f}.")
for s, r in tempered.items():
    z, kt = r["samples"], r["ks_tempered"]
    near = modes[np.argmin(np.abs(modes - np.median(z)))]
    how = "follow" if kt.pvalue > 0.01 else "are close to (though detectably off, the step bias)"
    spread = (f"every sample lies within {np.abs(z - near).max():.4f} of the mode at {near:.3f}"
              if np.abs(z - near).max() < 0.05 else f"the samples span [{z.min():.3f}, {z.max():.3f}]")
    print(f"- With σ = {s:g} the samples {how} p^(1/σ²) (KS {kt.statistic:.4f}, p-value {kt.pvalue:.3g}), not p "
          f"(KS {r['ks_p'].statistic:.3f}); {spread}; their average loss {r['avg']:.4f} matches the tempered value "
          f"{r['exact']:.4f}, {'above' if r['exact'] > exact_el else 'below'} E_p[L] = {exact_el:.4f}.")
print(f"- Averaging L over a chain's iterates from its start gives {final_all.mean():.4f} after {n_steps} steps "
      f"({run_all[min(9, n_steps - 1)].mean():.4f} after 10), against {final_burn.mean():.4f} after a burn-in of "
      f"{burn_in}: the start x, with L(x) = {float(loss(x)):.4f}, weighs on short chains.")
big, small = max(bias), min(bias)
print(f"- The step bias: KS distance to p {bias[big][0]:.4f} at η = {big:g} and {bias[small][0]:.4f} at "
      f"η = {small:g} (sampling-noise level {noise_floor:.4f}).")

# %% [markdown]
# ## Explore: move the sliders
# The cell below runs the sampler of this notebook for one setting of γ, σ, the step η and the number of steps K,
# and draws the final states of independent chains (all started at $x' = x$) over the exact $p^{1/\sigma^2}$,
# both from `atentlib.langevin1d`. In JupyterLab, with the kernel running, move a slider and release it: the
# chains are rerun and the figure is redrawn. What to look for:
#
# - **σ, the temperature.** Below 1 the curve $p^{1/\sigma^2}$ sharpens: the highest mode takes the mass and the
#   others fade; above 1 it flattens and widens. The histogram follows that curve, not $p$ (dashed).
# - **η, the step.** A larger step covers a longer time $K\eta$ in the same K steps but biases the chain: the
#   histogram drifts off the curve and the KS distance in the title grows.
# - **K, the steps.** A short chain has not forgotten its start: when $K\eta$ is small the samples pile up
#   around $x$ whatever the density.
# - **γ, the coupling.** A larger γ pulls $p$ towards $x$, narrows it and can erase the outer modes.
#
# Without a widget frontend (papermill's executed copy, a static viewer) the figure of the default setting is
# shown. This cell writes no file: the figure and the metrics above are unchanged by it.

# %%
import base64
import io

import ipywidgets as widgets
from IPython.display import Image, display

explore_chains = min(n_chains, 5000)  # fewer than above, so that a redraw takes about a second


def explore_figure(gamma_, sigma_, eta_, k_):
    """PNG of explore_chains Langevin samples after k_ steps from x' = x, over the exact p^(1/sigma^2)."""
    T = sigma_**2
    z = langevin_chains(x, gamma_, loss, eta_, sigma_, explore_chains, k_, burn_in=k_ - 1, seed=seed)[-1]
    ks = stats.kstest(z, cdf_function(x, gamma_, loss, temperature=T))
    half = 1.5 + 4.0 * np.sqrt(T / gamma_)
    g = np.linspace(x - half, x + half, 4001)
    p_t = exact_density(g, x, gamma_, loss, T)
    keep = g[p_t > 1e-3 * p_t.max()]
    lo_, hi_ = min(keep[0], np.quantile(z, 0.001)), max(keep[-1], np.quantile(z, 0.999))
    lo_, hi_ = lo_ - 0.1 * (hi_ - lo_), hi_ + 0.1 * (hi_ - lo_)
    fig_, ax_ = plt.subplots(figsize=(10, 4.2))
    n_bins = int(np.clip(1.5 * np.sqrt(explore_chains), 30, 120))
    ax_.hist(z, bins=np.linspace(lo_, hi_, n_bins + 1), density=True, color=pal[0], alpha=0.45,
             label=f"{explore_chains:,} chains after K = {k_} steps")
    ax_.plot(g, p_t, color=pal[0], lw=2.2, label=f"exact $p^{{1/σ^2}}$, σ = {sigma_:g}")
    if sigma_ != 1.0:
        ax_.plot(g, exact_density(g, x, gamma_, loss), color="0.5", lw=1.5, ls="--", label="exact p (σ = 1)")
    ax_.axvline(x, color="0.3", ls=":", lw=1, label=f"the start x = {x}")
    ax_.set_xlim(lo_, hi_)
    ax_.set_xlabel("x'")
    ax_.set_ylabel("density")
    ax_.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax_.set_title(f"γ = {gamma_:g}, σ = {sigma_:g}, η = {eta_:.3g}, K = {k_} (time Kη = {k_ * eta_:.3g}): "
                  f"KS to $p^{{1/σ^2}}$ = {ks.statistic:.3f}; average loss {average_loss(z, loss):.3f}, "
                  f"exact {exact_expected_loss(x, gamma_, loss, T):.3f}", fontsize=10)
    fig_.tight_layout()
    buf = io.BytesIO()
    fig_.savefig(buf, format="png", dpi=90)
    plt.close(fig_)  # drawn only through the PNG: no figure is left for the inline backend
    return buf.getvalue()


def _slider(kind, description, **kw):
    return kind(description=description, continuous_update=False, readout=True,
                style={"description_width": "9.5em"}, layout=widgets.Layout(width="32em"), **kw)


sliders = {
    "gamma_": _slider(widgets.FloatSlider, "γ (coupling)", value=gamma, min=min(0.25, gamma),
                      max=max(4.0, gamma), step=0.05),
    "sigma_": _slider(widgets.FloatSlider, "σ (temperature)", value=1.0, min=0.05, max=2.0, step=0.05),
    "eta_": _slider(widgets.FloatLogSlider, "η (step)", value=step, base=10,
                    min=min(-3.0, float(np.floor(np.log10(step)))), max=-1.0, step=0.1, readout_format=".3g"),
    "k_": _slider(widgets.IntSlider, "K (steps)", value=n_steps, min=1, max=2 * n_steps, step=1),
}
s_lo, s_hi = sliders["sigma_"].min, sliders["sigma_"].max
g_peak = np.linspace(x - 6.0, x + 6.0, 24001)
dens = {s: exact_density(g_peak, x, gamma, loss, s**2) for s in (s_lo, 1.0, s_hi)}
near_top = {s: float(np.trapezoid(np.where(np.abs(g_peak - g_peak[d.argmax()]) <= 0.15, d, 0.0), g_peak))
            for s, d in dens.items()}  # probability within 0.15 of the highest mode
print(f"Default setting: γ = {gamma:g}, σ = 1, η = {step:g}, K = {n_steps} (time {horizon:g}), "
      f"{explore_chains:,} chains, seed {seed}. Within 0.15 of its highest mode the exact density holds "
      f"{near_top[1.0]:.0%} of the probability at σ = 1, {near_top[s_lo]:.0%} at the slider's lowest σ = {s_lo:g} "
      f"(sharpened; peak {dens[s_lo].max():.1f} against {dens[1.0].max():.2f}) and {near_top[s_hi]:.0%} at its "
      f"highest σ = {s_hi:g} (flattened; peak {dens[s_hi].max():.2f}).")

default_png = explore_figure(**{name: s.value for name, s in sliders.items()})  # an error here fails the run
shown = widgets.Output()
with shown:
    display(Image(default_png))


def redraw(_change):
    with shown:  # an error is shown in the widget's output
        png = explore_figure(**{name: s.value for name, s in sliders.items()})
        shown.clear_output(wait=True)
        display(Image(png))


for s in sliders.values():
    s.observe(redraw, names="value")
panel = widgets.VBox([widgets.HBox([sliders["gamma_"], sliders["sigma_"]]),
                      widgets.HBox([sliders["eta_"], sliders["k_"]]), shown])
# the sliders and the figure where widgets render; the default figure as a plain image everywhere else
bundle = panel._repr_mimebundle_()
bundle["image/png"] = base64.b64encode(default_png).decode("ascii")
display(bundle, raw=True)
