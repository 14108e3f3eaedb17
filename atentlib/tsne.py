"""Figure 1 of Jagatap et al.: t-SNE pictures of decision boundaries, MNIST digits 5 vs 8.

The pieces, each small and tested in tests/test_tsne.py:

* ``digit_subset`` / ``digit_bundle``: keep two (or more) digits and relabel them 0, 1, ... in the order given
  (5 -> 0, 8 -> 1 for the paper's pair);
* ``experiment_config`` / ``train_defenses``: an in-memory experiment (the 3-layer ``mlp``, a linf threat) trained
  per defense by the project's own engine (``atentlib.train.fit``, so every defense is exactly the one the tables
  use), each run in its own folder;
* ``attack``: natural accuracy, PGD accuracy and the adversarial inputs of a model;
* ``features`` / ``embed``: what t-SNE sees (the last hidden layer's activations, or the pixels) and the embedding;
* ``decision_regions``: t-SNE has no inverse map, so the plane is shaded by a k-nearest-neighbour classifier fitted
  on the embedded points *labelled by the model's predictions*; ``fidelity`` is how often that map agrees with the
  model on the points themselves (a map with low fidelity would be drawing boundaries the model does not have);
* ``plot_panel``: one panel: shaded regions, clean points and their adversarial versions, coloured by true digit.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import train as engine
from .checkpoint import CHECKPOINT_FILES, load_model
from .attacks.pgd import pgd
from .config import DataConfig, EvalConfig, ExperimentConfig, Profile
from .data import DataBundle, Split
from .scoring import ATTACK_BATCH_SIZE, FORWARD_BATCH_SIZE
from .threat import Ball, model_mode

EXPERIMENT = "fig1_tsne"


# ----------------------------------------------------------------------------- data
def digit_subset(split: Split, digits: Sequence[int] = (5, 8), n: int | None = None, seed: int = 0) -> Split:
    """The examples of `split` whose label is in `digits`, relabelled to their position in `digits`.

    `n` keeps a random subset of that size (fixed seed; None keeps all). Order within the split is preserved.
    """
    digits = [int(d) for d in digits]
    if len(digits) < 2 or len(set(digits)) != len(digits):
        raise ValueError(f"digits must be at least two distinct labels, got {digits}")
    mask = torch.zeros_like(split.y, dtype=torch.bool)
    new_y = torch.full_like(split.y, -1)
    for i, d in enumerate(digits):
        hit = split.y == d
        mask |= hit
        new_y[hit] = i
    idx = torch.nonzero(mask).flatten()
    if len(idx) == 0:
        raise ValueError(f"no example of digits {digits} in this split")
    if n is not None and n < len(idx):
        keep = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        idx = idx[keep]
    return Split(split.x[idx], new_y[idx])


def digit_bundle(bundle: DataBundle, digits: Sequence[int] = (5, 8), n_train: int | None = None,
                 n_test: int | None = None, seed: int = 0) -> DataBundle:
    """`digit_subset` of both splits, with the relabelling recorded in `info`."""
    train = digit_subset(bundle.train, digits, n_train, seed)
    test = digit_subset(bundle.test, digits, n_test, seed + 1)
    info = {**bundle.info, "digits": [int(d) for d in digits],
            "relabel": {int(d): i for i, d in enumerate(digits)}, "n_train": len(train), "n_test": len(test)}
    return DataBundle(train, test, info)


# ----------------------------------------------------------------------------- training
def experiment_config(train: dict[str, Any], defenses: dict[str, dict[str, Any]], eps: float = 0.3,
                      model: str = "mlp", attack_steps: int = 20, attack_step_size: float = 0.0375) -> ExperimentConfig:
    """A validated MNIST linf experiment (the profile schema's own checks apply) for Figure 1."""
    return ExperimentConfig.model_validate({
        "dataset": "mnist", "model": model, "threat": {"norm": "linf", "eps": eps}, "train": train,
        "defenses": defenses,
        "evaluation": EvalConfig.model_validate({"attacks": [
            {"name": "pgd", "norm": "linf", "eps": eps, "steps": attack_steps, "step_size": attack_step_size}]}),
    })


@dataclass(frozen=True)
class Trained:
    model: nn.Module          # eval mode, last epoch
    history: list[dict]       # the engine's per-epoch rows
    seconds: float            # training time, all epochs


def train_defenses(exp: ExperimentConfig, data: DataBundle, work_dir: Path, profile: str = "fig1",
                   names: Sequence[str] | None = None, device: str | torch.device = "cpu",
                   log: Callable[..., None] = lambda *_: None) -> dict[str, Trained]:
    """Train each defense of `exp` on `data` with ``atentlib.train.fit``; one run folder per defense."""
    prof = Profile(profile=profile, device="cpu", data={"mnist": DataConfig()}, experiments={EXPERIMENT: exp})
    device = torch.device(device)
    out: dict[str, Trained] = {}
    for name in names or list(exp.defenses):
        run = Path(work_dir) / profile / EXPERIMENT / name
        history = engine.fit(prof, EXPERIMENT, name, data, run, device=device, progress=False, log=log)
        model, _ = load_model(run / CHECKPOINT_FILES["last"], device)
        out[name] = Trained(model, history, float(sum(h["seconds"] for h in history)))
    return out


# ----------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Attacked:
    natural: float            # accuracy % on clean inputs
    robust: float             # accuracy % under PGD
    x_adv: torch.Tensor
    pred_clean: np.ndarray
    pred_adv: np.ndarray


def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, step_size: float,
           restarts: int = 1, batch_size: int = ATTACK_BATCH_SIZE) -> Attacked:
    """Clean and linf-PGD predictions of `model` (eval mode) on (x, y)."""
    ball = Ball("linf", eps)
    advs, pc, pa = [], [], []
    for i in range(0, len(y), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        xa = pgd(model, xb, yb, ball, steps=steps, step_size=step_size, restarts=restarts)
        with torch.no_grad(), model_mode(model, False):
            pc.append(model(xb).argmax(1))
            pa.append(model(xa).argmax(1))
        advs.append(xa)
    pred_clean, pred_adv = torch.cat(pc), torch.cat(pa)
    return Attacked(100.0 * (pred_clean == y).float().mean().item(), 100.0 * (pred_adv == y).float().mean().item(),
                    torch.cat(advs), pred_clean.cpu().numpy(), pred_adv.cpu().numpy())


# ----------------------------------------------------------------------------- embedding
def _last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer: cannot take its last hidden features")
    return linears[-1]


@torch.no_grad()
def features(model: nn.Module, x: torch.Tensor, kind: str = "hidden",
             batch_size: int = FORWARD_BATCH_SIZE) -> np.ndarray:
    """What t-SNE embeds: `hidden`, the input of the model's last linear layer (the features the decision is a
    linear function of), or `input`, the flattened pixels. Model in eval mode."""
    if kind == "input":
        return x.reshape(len(x), -1).cpu().numpy().astype(np.float64)
    if kind != "hidden":
        raise ValueError(f"features kind must be 'hidden' or 'input', got {kind!r}")
    grabbed: list[torch.Tensor] = []
    hook = _last_linear(model).register_forward_hook(lambda _m, inp, _out: grabbed.append(inp[0].detach()))
    try:
        with model_mode(model, False):
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size])
    finally:
        hook.remove()
    return torch.cat(grabbed).reshape(len(x), -1).cpu().numpy().astype(np.float64)


def embed(feats: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (sklearn, PCA initialisation). The perplexity is capped below n/3 so small sets still work."""
    from sklearn.manifold import TSNE

    n = len(feats)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    perp = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perp, init="pca", learning_rate="auto", random_state=seed,
                n_jobs=1).fit_transform(feats)


# ----------------------------------------------------------------------------- decision regions
@dataclass(frozen=True)
class Regions:
    gx: np.ndarray            # (G,) grid coordinates
    gy: np.ndarray            # (G,)
    label: np.ndarray         # (G, G) predicted class of each grid cell, label[i, j] at (gx[j], gy[i])
    fidelity: float           # % of the points whose k-NN class (leave-one-out) is the model's prediction


def decision_regions(emb: np.ndarray, pred: np.ndarray, k: int = 15, grid: int = 200,
                     margin: float = 0.05) -> Regions:
    """Shade the plane of a 2-D embedding by a k-NN classifier fitted on the points labelled `pred`."""
    from sklearn.neighbors import KNeighborsClassifier

    emb, pred = np.asarray(emb, dtype=float), np.asarray(pred)
    if emb.ndim != 2 or emb.shape[1] != 2 or len(emb) != len(pred):
        raise ValueError(f"emb must be (n, 2) and pred (n,), got {emb.shape} and {pred.shape}")
    k = int(max(1, min(k, len(emb) - 1)))
    knn = KNeighborsClassifier(n_neighbors=k).fit(emb, pred)
    lo, hi = emb.min(0), emb.max(0)
    pad = margin * (hi - lo + 1e-12)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid)
    xx, yy = np.meshgrid(gx, gy)
    label = knn.predict(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    # leave-one-out agreement: the neighbours of each point, itself excluded
    nbr = knn.kneighbors(emb, n_neighbors=k + 1, return_distance=False)[:, 1:]
    votes = pred[nbr]
    classes = np.unique(pred)
    counts = np.stack([(votes == c).sum(1) for c in classes], 1)
    loo = classes[counts.argmax(1)]
    return Regions(gx, gy, label, float(100.0 * (loo == pred).mean()))


def legend_handles(class_names: Sequence[str], colors: Sequence, adversarial: bool = True) -> tuple[list, list[str]]:
    """Legend entries for `plot_panel`: shaded regions, clean points, and (optionally) the PGD crosses."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_cls = len(class_names)
    handles = [Patch(color=colors[c], alpha=0.3, label=f"predicted {class_names[c]}") for c in range(n_cls)]
    handles += [Line2D([], [], ls="", marker="o", ms=5, color=colors[c], label=f"digit {class_names[c]}")
                for c in range(n_cls)]
    if adversarial:
        handles.append(Line2D([], [], ls="", marker="x", ms=6, color="0.3", label="its PGD version (true colour)"))
    return handles, [h.get_label() for h in handles]


def plot_panel(ax, emb: np.ndarray, y: np.ndarray, regions: Regions, n_clean: int, class_names: Sequence[str],
               colors: Sequence, title: str = "", show_legend: bool = True) -> None:
    """One defense: regions shaded by predicted class, clean points (dots) and, after index n_clean, their
    adversarial versions (crosses), both coloured by the true class. `emb` (n, 2), `y` (n,) true classes."""
    from matplotlib.colors import ListedColormap

    n_cls = len(class_names)
    ax.contourf(regions.gx, regions.gy, regions.label, levels=np.arange(n_cls + 1) - 0.5,
                cmap=ListedColormap([colors[c] for c in range(n_cls)]), alpha=0.16)
    ax.contour(regions.gx, regions.gy, regions.label, levels=np.arange(n_cls) + 0.5, colors="0.25", linewidths=1.2)
    y = np.asarray(y)
    for c in range(n_cls):
        clean = np.nonzero(y[:n_clean] == c)[0]
        ax.scatter(emb[clean, 0], emb[clean, 1], s=9, color=colors[c], edgecolor="none", alpha=0.85)
        if len(emb) > n_clean:
            adv = n_clean + np.nonzero(y[n_clean:] == c)[0]
            ax.scatter(emb[adv, 0], emb[adv, 1], s=16, color=colors[c], marker="x", linewidths=0.9, alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    if show_legend:
        handles, _ = legend_handles(class_names, colors, adversarial=len(emb) > n_clean)
        ax.legend(handles=handles, loc="best", fontsize=7, framealpha=0.85)
