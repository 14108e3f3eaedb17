"""Benchmark: the evaluation's attacks per digit in the default layout and batches of 500 (the old setting) against
channels_last and batches of 100 (what atentlib.checkpoint.load_model and atentlib.scoring now use on a CPU).

SYNTHETIC inputs (random tensors of the model's input shape, an untrained model): time only. Every variant attacks
the same N digits with our PGD (atentlib.attacks.pgd, float32, model in eval mode), split into batches of its size:

  default_500   default memory format, batches of 500 (the evaluation's batch before 2026-12-02)
  default_100   default memory format, batches of 100
  cl_500        channels_last model and inputs, batches of 500
  cl_100        channels_last, batches of 100 (the quick profile's evaluation now)

Ratios are of MEDIAN times over interleaved rounds; `speedup` = default_500 / cl_100. Writes
bench/results/eval_layout.json.

    python bench/bench_eval_layout.py [--models smallcnn lenet5] [--digits 500] [--steps 20] [--repeats 5]
    python bench/bench_eval_layout.py --digits 4 --batches 2 4 --steps 1 --repeats 1 --warmup 0   # smoke
"""
from __future__ import annotations

import argparse

from common import INPUTS, add_common_args, default_ball_eps, medians, interleaved, start, summarize, \
    synthetic_batch, write_result

import torch  # noqa: E402

from atentlib import models  # noqa: E402
from atentlib.attacks import pgd  # noqa: E402
from atentlib.threat import Ball  # noqa: E402


def attack_all(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int,
               batch: int) -> None:
    """PGD on all of x in batches of `batch`, as atentlib.scoring.attack_accuracy runs it."""
    for i in range(0, len(y), batch):
        pgd(model, x[i:i + batch], y[i:i + batch], ball, steps, 2.5 * ball.eps / steps)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smallcnn", "lenet5"], help="atentlib.models names (MNIST shape)")
    ap.add_argument("--digits", type=int, default=500, help="N: digits attacked by every variant (default 500)")
    ap.add_argument("--batches", type=int, nargs=2, default=[500, 100], metavar=("OLD", "NEW"),
                    help="the two batch sizes compared (default 500 100)")
    ap.add_argument("--steps", type=int, default=20, help="PGD steps (default 20, the paper's protocol)")
    ap.add_argument("--norm", choices=["linf", "l2"], default="linf")
    add_common_args(ap, "eval_layout.json", repeats=5)
    args = ap.parse_args(argv)
    device, load0 = start(args)
    old, new = args.batches
    results = []
    for name in args.models:
        model = models.build(name).to(device).eval()
        cl_model = models.build(name).to(device).eval()
        cl_model.load_state_dict(model.state_dict())
        cl_model = cl_model.to(memory_format=torch.channels_last)
        x, y = synthetic_batch(name, args.digits, device, seed=args.seed)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        ball = Ball(args.norm, default_ball_eps(name, args.norm))
        variants = {f"default_{old}": lambda: attack_all(model, x, y, ball, args.steps, old),
                    f"default_{new}": lambda: attack_all(model, x, y, ball, args.steps, new),
                    f"cl_{old}": lambda: attack_all(cl_model, x_cl, y, ball, args.steps, old),
                    f"cl_{new}": lambda: attack_all(cl_model, x_cl, y, ball, args.steps, new)}
        times = interleaved(variants, args.repeats, device, warmup=args.warmup)
        med = medians(times)
        speedup = med[f"default_{old}"] / med[f"cl_{new}"]
        row = {"model": name, "model_state": "untrained (random init)", "norm": ball.norm, "eps": ball.eps,
               "steps": args.steps, "digits": args.digits, "median_seconds": med, "timings": summarize(times),
               "ms_per_digit": {k: 1000 * v / args.digits for k, v in med.items()},
               "speedup": speedup,
               "layout_only": med[f"default_{new}"] / med[f"cl_{new}"],
               "batch_only": med[f"default_{old}"] / med[f"default_{new}"]}
        results.append(row)
        print(f"{name}: PGD-{args.steps} on {args.digits} digits, "
              + ", ".join(f"{k} {v:.2f} s" for k, v in med.items())
              + f"; default_{old} / cl_{new} = {speedup:.2f}x")
    payload = {"dtype": "float32", "repeats": args.repeats, "warmup": args.warmup, "batches": {"old": old, "new": new},
               "note": f"{INPUTS}; the same digits and attack in every variant", "results": results}
    write_result("eval_layout", device, load0, payload, args.out)
    return payload


if __name__ == "__main__":
    main()
