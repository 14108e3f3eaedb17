"""Benchmark: time per CIFAR-10 training epoch (Table S4) of WRN-34-10 linf and ResNet-20 l2, ATENT vs PGD-AT.

SYNTHETIC inputs: 3x32x32 uniform-random tensors and random labels stand in for CIFAR-10 (time only; no
accuracy). Each step is the training engine's own (atentlib.train.train_epoch on one batch: crop+flip on the
device, zero_grad, the defense's backward under autocast, the optimiser step, the engine's non-finite check),
with the engine's GPU options on CUDA: bf16 autocast (resolve_amp), channels_last, cudnn.benchmark, and
torch.compile with --compile. The defenses of a configuration share one model and are timed interleaved, one
step each per round (order shuffled each round), after --warmup untimed rounds.

THE EPOCH TIME IS EXTRAPOLATED: median seconds of the --steps measured steps x ceil(50,000 / batch) steps
(391 at batch 128, 196 at batch 256); the engine's per-epoch monitor and checkpoint are not included.

configurations (the papers' set-ups; docs/method.md, Experiments):
  linf_wrn34_10  WRN-34-10, linf eps 8/255, batch 128, eta' = PGD step = 0.007 (Table 3)
  l2_resnet20    ResNet-20, l2 eps 1, batch 256, ATENT eta' = 2 eps / K, gamma 0.08; PGD step 2.5 eps / K (Table S1)
defenses: atent at each --K (default 10 and 5), pgd_at and trades with --attack-steps (default 10) steps.

Records the device name (torch.cuda.get_device_name), the peak GPU memory of each defense's steps
(torch.cuda.max_memory_allocated) and the dtype. Writes bench/results/epoch_time.json.

    python bench/bench_epoch_time.py [--steps 20] [--warmup 3] [--compile]        # on a GPU
    python bench/bench_epoch_time.py --steps 1 --batch 8 --warmup 0                # CPU smoke (slow: WRN-34-10)
    python bench/bench_epoch_time.py --steps 1 --batch 2 --K 1 --attack-steps 1 --warmup 0 --defenses atent pgd_at
"""
from __future__ import annotations

import argparse
import math

from common import (INPUTS, add_common_args, add_engine_args, engine_options, interleaved, medians, peak_memory,
                    prepare, reset_peak_memory, start, summarize, synthetic_batch, write_result)

import torch  # noqa: E402

from atentlib import defenses, distributed, models  # noqa: E402
from atentlib.config import (AtentL2Defense, AtentLinfDefense, OptimizerConfig, PgdAtDefense,  # noqa: E402
                             TradesDefense, TrainConfig)
from atentlib.threat import Ball  # noqa: E402
from atentlib.train import make_optimizer, train_epoch  # noqa: E402

EPOCH_EXAMPLES = 50_000  # CIFAR-10's training set
CONFIGS = {
    "linf_wrn34_10": {"norm": "linf", "model": "wrn34_10", "eps": 8 / 255, "batch": 128, "step": 0.007},
    "l2_resnet20": {"norm": "l2", "model": "resnet20", "eps": 1.0, "batch": 256, "gamma": 0.08},
}
DEFENSES = ("atent", "pgd_at", "trades")
# This project's own target: seconds per epoch of ATENT at K = 10 on an H100 (recorded with each such row; the
# device that ran is named beside it)
TARGET_EPOCH_SECONDS = {"linf_wrn34_10": 150.0, "l2_resnet20": 20.0}
TARGET_K, TARGET_DEVICE = 10, "H100"


def defense_config(conf: dict, kind: str, K: int):
    norm, eps = conf["norm"], conf["eps"]
    step = conf["step"] if norm == "linf" else 2.5 * eps / K
    if kind == "pgd_at":
        return PgdAtDefense(kind="pgd_at", steps=K, step_size=step)
    if kind == "trades":
        return TradesDefense(kind="trades", steps=K, step_size=step)
    if norm == "linf":
        return AtentLinfDefense(kind="atent_linf", K=K, step_size=conf["step"], radius=eps)
    return AtentL2Defense(kind="atent_l2", K=K, step_size=2 * eps / K, gamma=conf["gamma"])


def variants(conf: dict, kinds: list[str], Ks: list[int], attack_steps: int) -> dict[str, tuple[str, int]]:
    """name -> (kind, K): atent at each K, the others at attack_steps."""
    out = {}
    for kind in kinds:
        for K in (Ks if kind == "atent" else [attack_steps]):
            out[f"{kind}_K{K}"] = (kind, K)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    ap.add_argument("--defenses", nargs="+", choices=DEFENSES, default=list(DEFENSES))
    ap.add_argument("--K", type=int, nargs="+", default=[10, 5], help="ATENT's K values (default 10 5)")
    ap.add_argument("--attack-steps", type=int, default=10, help="PGD-AT's and TRADES' steps (default 10)")
    ap.add_argument("--steps", type=int, default=None, help="measured steps per defense (default 20; = --repeats)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the paper's, 128 / 256)")
    add_common_args(ap, "epoch_time.json", repeats=20, warmup=3)
    add_engine_args(ap)
    args = ap.parse_args(argv)
    steps = args.steps if args.steps is not None else args.repeats
    device, load0 = start(args)
    opts = engine_options(args)
    ctx = distributed.Context()
    rows, configs = [], {}
    for cname in args.configs:
        conf = CONFIGS[cname]
        batch = args.batch or conf["batch"]
        per_epoch = math.ceil(EPOCH_EXAMPLES / batch)
        torch.manual_seed(args.seed)
        prep = prepare(models.build(conf["model"]), device, opts)
        tc = TrainConfig(epochs=1, batch_size=batch, augment="crop_flip", amp=opts.amp, compile=opts.compile,
                         channels_last=opts.channels_last, cudnn_benchmark=opts.cudnn_benchmark,
                         monitor_examples=0,
                         optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4))
        optimizer = make_optimizer(prep.eager, tc)
        x, y = synthetic_batch(conf["model"], batch, device, seed=args.seed)
        x = prep.inputs(x)
        ball = Ball(conf["norm"], conf["eps"])
        vs = variants(conf, args.defenses, args.K, args.attack_steps)
        built = {name: defenses.build(defense_config(conf, kind, K), ball) for name, (kind, K) in vs.items()}
        peaks: dict[str, int] = {}

        def step(name):
            def run():
                train_epoch(prep.model, built[name], optimizer, tc, x, y, 0, ctx, prep.amp_dtype, cname, False)
            return run

        def after(name):
            p = peak_memory(device)
            if p is not None:
                peaks[name] = max(peaks.get(name, 0), p)

        print(f"{INPUTS} in CIFAR-10's shape; {cname}: {conf['model']}, batch {batch}, device {device}, dtype "
              f"{prep.dtype}, {steps} measured steps per defense (interleaved) after {args.warmup} warm-up rounds")
        times = interleaved({n: step(n) for n in vs}, steps, device, warmup=args.warmup,
                            before_each=lambda _: reset_peak_memory(device), after_each=after)
        med = medians(times)
        timing = summarize(times)
        for name, (kind, K) in vs.items():
            row = {"config": cname, "norm": conf["norm"], "model": conf["model"], "defense": kind, "K": K,
                   "batch": batch, "steps_per_epoch": per_epoch, "measured_steps": steps,
                   "median_step_seconds": med[name], "epoch_seconds": med[name] * per_epoch,
                   "epoch_seconds_extrapolated": True, "paper_setup": batch == conf["batch"] and steps >= 3,
                   "peak_memory_bytes": peaks.get(name),
                   "dtype": prep.dtype, "timing": timing[name]}
            if kind == "atent" and K == TARGET_K:
                row["target_epoch_seconds"] = TARGET_EPOCH_SECONDS[cname]
                row["target_device"] = TARGET_DEVICE
            rows.append(row)
            mem = f", peak {row['peak_memory_bytes'] / 2**30:.2f} GiB" if row["peak_memory_bytes"] else ""
            bar = (f"; target on an {TARGET_DEVICE}: <= {row['target_epoch_seconds']:.0f} s"
                   if "target_epoch_seconds" in row else "")
            print(f"  {name}: {med[name]:.3f} s/step -> {row['epoch_seconds']:.0f} s/epoch "
                  f"(extrapolated x{per_epoch}){mem}{bar}")
        ratios = {}
        for name, (kind, K) in vs.items():
            ref = f"pgd_at_K{K}"
            if kind == "atent" and ref in med:
                ratios[f"atent_over_pgd_at_K{K}"] = med[name] / med[ref]
                print(f"  ATENT / PGD-AT at K={K}: {ratios[f'atent_over_pgd_at_K{K}']:.3f} (ratio of medians)")
        configs[cname] = {**conf, "batch": batch, "steps_per_epoch": per_epoch, "engine": prep.record(),
                          "ratios": ratios}
    paper_batches = all((args.batch or CONFIGS[c]["batch"]) == CONFIGS[c]["batch"] for c in args.configs)
    payload = {"mode": "measured" if steps >= 3 and paper_batches else "smoke (reduced; not comparable to Table S4)",
               "measured_steps": steps, "warmup": args.warmup,
               "epoch_examples": EPOCH_EXAMPLES,
               "extrapolation": "extrapolated: epoch_seconds = median step seconds x ceil(50000 / batch); excludes the "
                                "per-epoch monitor and checkpoint",
               "step": "atentlib.train.train_epoch on one batch (crop_flip, defense backward, SGD step)",
               "configs": configs, "results": rows}
    write_result("epoch_time", device, load0, payload, args.out)
    return payload


if __name__ == "__main__":
    main()
