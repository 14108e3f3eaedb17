"""Figures and metric files of the notebooks, labelled with the profile they came from."""
from __future__ import annotations

from pathlib import Path

from .checkpoint import write_json


def save_figure(fig, name: str, out_dir: Path, profile: str) -> list[Path]:
    """Save a matplotlib figure as PNG and PDF, with the profile written in its corner."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"profile: {profile}", ha="right", va="bottom", fontsize=8, color="0.4")
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=130 if p.suffix == ".png" else None, bbox_inches="tight")
    return paths


def write_metrics(metrics: dict, name: str, out_dir: Path) -> Path:
    path = Path(out_dir) / f"{name}.json"
    write_json(metrics, path)
    return path
