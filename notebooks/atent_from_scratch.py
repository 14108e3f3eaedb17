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
# # ATENT from scratch: one training step, written out
#
# The start-here notebook shows the sampler as one call. Here the whole linf-ATENT training step is written in
# plain PyTorch, on real MNIST digits, next to the PGD-AT step it replaces:
#
# 1. **the chain**: start at a random corner of the ball of radius $r = 1/\gamma$ around $x$, then $K$ Langevin
#    steps $x^{k+1} = x^k + \eta'\,\mathrm{sign}(\nabla_x L(x^k)) + \varepsilon\sqrt{2\eta'}\,\xi$ (the authors' signed
#    step; `step_direction = "raw"` takes the gradient itself, as Algorithm 2 prints it), and at the last step
#    $x^K - x$ is projected onto the ball;
# 2. **μ**, the training loss: the running average $\mu \leftarrow (1-\alpha)\mu + \alpha L(x^k)$ over the iterates,
#    so $\mu = \sum_k c_k L(x^k)$ with $c_k = \alpha (1-\alpha)^{K-k}$;
# 3. **the weight gradient** $\nabla_w \mu = \sum_k c_k \nabla_w L(x^k)$, each iterate held fixed, accumulated
#    while the chain runs (the forward pass at $x^k$ serves both the next $x$-step and $c_k \nabla_w L(x^k)$);
# 4. **the optimiser step** on that gradient.
#
# The notebook checks its inline gradient against `atentlib`'s sampler (the one every pipeline stage trains with),
# then trains both defenses for a few minutes on about a thousand digits and draws their curves. Change the
# parameters below ($\gamma$, $K$, the step direction) and run it again.

# %% tags=["parameters"]
profile = "quick"          # whose data (params/<name>.yaml) the digits come from
n_train = 1000             # training digits, every class in proportion
n_val = 500                # validation digits for the curves
epochs = 8
batch_size = 50
lr = 0.001
eps = 0.3                  # the linf threat radius; ATENT's ball is 1/gamma
K = 10                     # Langevin steps (PGD-AT: the same number of PGD steps)
step_size = 0.04           # eta' (PGD-AT: the same step)
gamma = 3.33               # the ball radius 1/gamma equals eps
noise = 0.001              # epsilon of the Langevin noise
alpha = 0.9
step_direction = "sign"    # "sign" (authors' code) or "raw" (Algorithm 2 as printed)
monitor_pgd_steps = 10
seed = 0
figures_dir = "figures"
metrics_dir = "metrics"

# %%
import math
import time

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F

from atentlib import data, models, report
from atentlib.attacks.pgd import pgd
from atentlib.config import AtentLinfDefense, load_profile
from atentlib.samplers import AtentLinf
from atentlib.scoring import accuracy, attack_accuracy
from atentlib.threat import Ball

prof = load_profile(profile)
cfg_data = prof.data["mnist"]
bundle = data.load("mnist", cfg_data, data.data_root("mnist", cfg_data, prof.profile))
tr = data.stratified_sample(bundle.train.y, min(n_train, len(bundle.train)), seed)
va_split = bundle.val if bundle.val is not None else bundle.train
va = data.stratified_sample(va_split.y, min(n_val, len(va_split)), seed + 1)
x_train, y_train = bundle.train.x[tr], bundle.train.y[tr]
x_val, y_val = va_split.x[va], va_split.y[va]
sns.set_theme(style="whitegrid", context="notebook")
print(f"{len(y_train)} training and {len(y_val)} validation digits of the {prof.profile} profile's MNIST "
      f"({bundle.info['source']}); classes per training digit: {torch.bincount(y_train).tolist()}")

# %% [markdown]
# ## One ATENT step, inline
# `atent_backward` runs the chain on a batch and leaves $\nabla_w \mu$ in each parameter's `.grad`; it returns μ
# and the last iterate. Every line is one idea of the list above. The model stays in train mode (as the authors'
# code does): its dropout draws a new mask at each forward pass.

# %%
def atent_backward(model, x, y, K=K, step_size=step_size, gamma=gamma, noise=noise, alpha=alpha,
                   step_direction=step_direction):
    r = 1.0 / gamma
    c = [0.0] + [alpha * (1 - alpha) ** (K - k) for k in range(1, K + 1)] if K > 0 else [1.0]
    params = [p for p in model.parameters()]
    x_k = (x + r * torch.randn_like(x).sign()).clamp(0, 1)                 # 1. a random corner of the ball
    mu = torch.zeros(())
    for k in range(K + 1):
        x_k.requires_grad_(k < K)
        loss = F.cross_entropy(model(x_k), y)
        wanted = ([x_k] if k < K else []) + (params if c[k] > 0 else [])
        grads = torch.autograd.grad(loss, wanted)
        if c[k] > 0:                                                         # 3. c_k * grad_w L(x^k)
            for p, g in zip(params, grads[int(k < K):]):
                p.grad = c[k] * g if p.grad is None else p.grad + c[k] * g
            mu = (1 - alpha) * mu + alpha * loss.detach() if K > 0 else loss.detach()   # 2. mu
        if k < K:                                                            # 1. one Langevin step
            g = grads[0]
            direction = g.sign() if step_direction == "sign" else g
            # the increment is summed first, as atentlib does: a last-bit difference in x^k can flip the sign of a
            # near-zero pixel gradient and send two otherwise equal chains apart
            x_next = x_k.detach() + (step_size * direction + noise * math.sqrt(2 * step_size) * torch.randn_like(x))
            if k + 1 == K:                                                   # project at the last step only
                x_next = x + (x_next - x).clamp(-r, r)
            x_k = x_next.clamp(0, 1)
    return mu, x_k.detach()


def pgd_at_backward(model, x, y, K=K, step_size=step_size):
    """PGD-AT's step beside it: the worst point of the ball by K signed steps, then the loss there."""
    x_adv = pgd(model, x, y, Ball("linf", eps), K, step_size)               # eval mode while attacking
    loss = F.cross_entropy(model(x_adv), y)
    loss.backward()
    return loss.detach(), x_adv

# %% [markdown]
# ## Check: the inline gradient is the library's
# Same model, same batch, same random numbers: the gradient left in `.grad` by the inline step must equal the one
# `atentlib.samplers.AtentLinf(...).accumulate` leaves (the exact gradient of μ, `mu_grad_cutoff = 0`).

# %%
torch.manual_seed(seed)
model = models.build("smallcnn").train()
xb, yb = x_train[:batch_size], y_train[:batch_size]


def grads_of(fn):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed + 1)
    mu = fn()
    return float(mu), torch.cat([p.grad.flatten() for p in model.parameters()])


mu_inline, g_inline = grads_of(lambda: atent_backward(model, xb, yb)[0])
lib_cfg = AtentLinfDefense(kind="atent_linf", K=K, step_size=step_size, gamma=gamma, noise=noise, alpha=alpha,
                           step_direction=step_direction, mu_grad_cutoff=0.0)
mu_lib, g_lib = grads_of(lambda: AtentLinf(lib_cfg, eps).accumulate(model, xb, yb).mu)
rel = float((g_inline - g_lib).norm() / g_lib.norm())
print(f"mu: inline {mu_inline:.6f}, atentlib {mu_lib:.6f}; relative difference of the weight gradients {rel:.2e}")
assert abs(mu_inline - mu_lib) < 1e-5 and rel < 1e-5, "the inline ATENT step does not match atentlib's"

# %% [markdown]
# ## Train both, a few minutes each
# The same SmallCNN initialisation, data order and Adam optimiser for both defenses; after each epoch, clean and
# PGD accuracy on the validation digits. No ε warm-up here: on so few digits and epochs, watch whether each
# defense gets off the ground at full radius.

# %%
def evaluate(model):
    ball = Ball("linf", eps)
    rob = attack_accuracy(model, x_val, y_val, lambda xb, yb: pgd(model, xb, yb, ball, monitor_pgd_steps,
                                                                  2.5 * eps / monitor_pgd_steps))
    return accuracy(model, x_val, y_val), rob


def train(backward):
    torch.manual_seed(seed)
    model = models.build("smallcnn")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows, t0 = [], time.time()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        model.train()
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            backward(model, x_train[idx], y_train[idx])
            opt.step()
        nat, rob = evaluate(model)
        rows.append({"epoch": epoch, "natural": nat, "pgd": rob, "seconds": time.time() - t0})
    return pd.DataFrame(rows)


curves = pd.concat([train(atent_backward).assign(defense="ATENT (inline)"),
                    train(pgd_at_backward).assign(defense="PGD-AT (inline)")], ignore_index=True)
curves.round(2)

# %%
long = curves.melt(id_vars=["epoch", "defense"], value_vars=["natural", "pgd"], var_name="accuracy on",
                   value_name="accuracy (%)")
g = sns.relplot(data=long, x="epoch", y="accuracy (%)", hue="defense", col="accuracy on", kind="line", marker="o",
                height=3.6, aspect=1.2)
g.figure.suptitle(f"ATENT and PGD-AT written out: {len(y_train)} digits, K = {K}, eta' = {step_size}, "
                  f"gamma = {gamma}, {step_direction} step ({prof.profile} profile data)", y=1.04)
report.save_figure(g.figure, "atent_from_scratch", figures_dir, prof.profile)
plt.show()

# %% [markdown]
# ## What happened
# Computed from the curves above.

# %%
last = curves.groupby("defense").last()
for d, r in last.iterrows():
    print(f"{d}: after {int(r.epoch)} epochs, {r.natural:.1f}% clean and {r.pgd:.1f}% under PGD-{monitor_pgd_steps} "
          f"on {len(y_val)} validation digits, {r.seconds:.0f} s of training and monitoring")
gap = last.loc["ATENT (inline)", "pgd"] - last.loc["PGD-AT (inline)", "pgd"]
print(f"ATENT minus PGD-AT under PGD at the end: {gap:+.1f} points (one seed, {len(y_val)} digits: a binomial sd of "
      f"about {100 * math.sqrt(0.25 / len(y_val)):.1f} points at most; the converged profile's verdict is the real test)")
report.write_metrics({"profile": prof.profile, "gradient_check_relative_difference": rel,
                      "last": {d: {k: float(v) for k, v in r.items()} for d, r in last.iterrows()}},
                     "atent_from_scratch", metrics_dir)

# %% [markdown]
# ## Try it
# * **γ**: the ball's radius is $1/\gamma$. Set `gamma = 5` (radius 0.2) and the model trains on weaker
#   perturbations than the ε = 0.3 attack it is tested with.
# * **K**: `K = 1` is a single noisy step from a corner (close to FGSM training with a random start); larger K
#   costs K + 1 forward-backward passes per batch, like PGD-AT.
# * **the step**: `step_direction = "raw"` moves each pixel by η' times its gradient, which is tiny for a
#   cross-entropy: the chain hardly leaves its start (the ambiguity notebook measures what that costs).
# Re-run the notebook from the parameters cell; the gradient check holds for every setting.
