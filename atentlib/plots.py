"""The study's recurring pictures, drawn the same way in every notebook: accuracy bars beside the paper's numbers,
and per-epoch training curves. Each function returns the figure; notebooks save it with report.save_figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .report_names import display_name, seed_base

__all__ = ["DEFENSE_COLORS", "accuracy_bars", "training_curves"]

# One colour per defense of the study in every figure, keyed by the name a reader sees (display_name): tab10's
# colours in this order (the order fixes which defense gets which colour). Defenses outside it are drawn in
# seaborn's default colours.
COLOUR_ORDER = ("sgd", "entropy_sgd", "pgd_at", "pgd_at_e", "trades", "mart", "mma", "act", "atent_linf", "atent_l2")
DEFENSE_COLORS = dict(zip(map(display_name, COLOUR_ORDER), sns.color_palette("tab10", len(COLOUR_ORDER))))


def accuracy_bars(summary: pd.DataFrame, metrics: list[str], title: str, paper_rows: dict | None = None,
                  paper_metrics: dict[str, str] | None = None, labels: dict[str, str] | None = None):
    """Grouped bars: one group per row of `summary` (a report.summarize frame), one bar per metric, error bars
    where the row has several seeds. `paper_metrics` maps our metric to the paper's key: those get a black
    diamond at the paper's number for the same row."""
    palette = sns.color_palette("deep", len(metrics))
    width = 0.8 / len(metrics)
    x = np.arange(len(summary))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.95 * len(summary) + 2.5), 4.2))
    for j, m in enumerate(metrics):
        offset = (j - (len(metrics) - 1) / 2) * width
        sd = summary.get(f"{m} sd")
        ax.bar(x + offset, summary[m], width, color=palette[j], label=(labels or {}).get(m, m),
               # a single-seed row has no spread: NaN draws no error bar (a 0 would draw caps, as if measured)
               yerr=None if sd is None or sd.isna().all() else sd.to_numpy(dtype=float), capsize=2,
               error_kw={"elinewidth": 1})
        for row, defense in enumerate(summary.index):
            ref = (paper_rows or {}).get(defense, {}).get((paper_metrics or {}).get(m, ""))
            if ref is not None:
                ax.scatter(x[row] + offset, ref, marker="D", color="black", s=24, zorder=5,
                           label="paper" if "paper" not in ax.get_legend_handles_labels()[1] else None)
    ax.set_xticks(x, [display_name(d) for d in summary.index], rotation=20, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def training_curves(curves: pd.DataFrame, title: str, metrics: tuple[str, ...] = ("val_natural", "val_robust")):
    """One panel per metric, one line per defense (seeds of a defense drawn as its mean with a band)."""
    present = [m for m in metrics if m in curves]
    if curves.empty or not present:
        raise ValueError(f"no per-epoch metrics {list(metrics)} to plot: the runs have no metrics.csv with them")
    data = curves.assign(defense=[display_name(seed_base(d)) for d in curves["defense"]])
    palette = {d: DEFENSE_COLORS.get(d) for d in data["defense"].unique()}
    palette = palette if all(palette.values()) else None   # unknown names: seaborn's default colours
    ncols = min(2, len(present))
    nrows = -(-len(present) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), sharex=True, squeeze=False)
    flat = axes.ravel()
    for i, (ax, m) in enumerate(zip(flat, present)):
        sns.lineplot(data=data, x="epoch", y=m, hue="defense", marker="o", markersize=4, ax=ax, palette=palette,
                     errorbar=("sd", 1), legend=i == ncols - 1)
        ax.set_ylabel(f"{m.replace('_', ' ')} (%)")
        if "natural" in m:   # natural accuracy sits near 100: let it use the panel's height
            ax.set_ylim(top=100.5)
        else:
            ax.set_ylim(0, 100)
    for ax in flat[len(present):]:
        ax.set_visible(False)
    if flat[ncols - 1].get_legend() is not None:
        sns.move_legend(flat[ncols - 1], "upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
