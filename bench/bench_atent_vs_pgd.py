"""Benchmark: one ATENT-linf training step over one PGD-AT step at the same K, measured side by side.

SYNTHETIC inputs (random tensors of MNIST's shape) are used: this measures time only, no accuracy.
Both steps are timed interleaved in the same process, so machine load affects them alike; the reported
number is the ratio of medians. Writes bench/results/atent_vs_pgd.json.

    python bench/bench_atent_vs_pgd.py [--K 10] [--batch 128] [--repeats 15]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from atentlib import defenses, models
from atentlib.config import AtentLinfDefense, PgdAtDefense
from atentlib.threat import Ball


def time_step(defense, model, x, y) -> float:
    t0 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    defense.backward(model, x, y, None)
    return time.perf_counter() - t0


def plain_passes(model, x, y, n) -> float:
    """n forward-backward passes that compute both input- and weight-gradients (the unit of cost)."""
    t0 = time.perf_counter()
    for _ in range(n):
        xr = x.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(model(xr), y).backward()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--K", type=int, nargs="+", default=[10])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--model", default="smallcnn")
    ap.add_argument("--out", default="bench/results/atent_vs_pgd.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    model = models.build(args.model)
    x, y = torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,))
    ball = Ball("linf", 0.3)
    results = []
    for K in args.K:
        variants = {
            "pgd_at": defenses.build(PgdAtDefense(kind="pgd_at", steps=K, step_size=0.04), ball),
            "atent_linf": defenses.build(AtentLinfDefense(kind="atent_linf", K=K, step_size=0.04), ball),
            "atent_linf_exact": defenses.build(
                AtentLinfDefense(kind="atent_linf", K=K, step_size=0.04, mu_grad_cutoff=0.0), ball),
        }
        times: dict[str, list[float]] = {k: [] for k in [*variants, "plain_K+1"]}
        for name, d in variants.items():  # warm-up
            time_step(d, model, x, y)
        for _ in range(args.repeats):
            for name, d in variants.items():
                times[name].append(time_step(d, model, x, y))
            times["plain_K+1"].append(plain_passes(model, x, y, K + 1))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"K": K, "median_seconds": med,
               "atent_over_pgd_at": med["atent_linf"] / med["pgd_at"],
               "atent_exact_over_pgd_at": med["atent_linf_exact"] / med["pgd_at"],
               "atent_over_K+1_passes": med["atent_linf"] / med["plain_K+1"]}
        results.append(row)
        print(f"K={K}: ATENT/PGD-AT = {row['atent_over_pgd_at']:.3f} (target <= 1.05), "
              f"exact-mu ATENT/PGD-AT = {row['atent_exact_over_pgd_at']:.3f}, "
              f"ATENT/(K+1 passes) = {row['atent_over_K+1_passes']:.3f} (target <= 1.2); "
              f"medians: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in med.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": "cpu", "machine": platform.processor() or platform.machine(),
                               "threads": torch.get_num_threads(), "model": args.model, "batch": args.batch,
                               "inputs": "synthetic random tensors (timing only)", "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
