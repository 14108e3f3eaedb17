"""Benchmark: one ATENT training step over one PGD-AT step at the same K, and over K+1 plain passes, l2 and linf.

SYNTHETIC inputs (random tensors of the model's input shape) are used: this measures time only, no accuracy.
For each norm and each K, five things are timed interleaved in one process (round after round, the order
shuffled each round), so machine load affects them alike; every reported ratio is a ratio of MEDIANS:

  pgd_at       one PGD-AT step: K PGD steps (x-gradient only, model in eval mode) + one forward-backward for
               the weights (atentlib.defenses.PGDAT)
  atent        one ATENT step with the default mu_grad_cutoff = 0.02 (only the last two iterates, > 99% of mu's
               weight, add weight-gradients): K + 1 forward-backward passes (atentlib.samplers)
  atent_exact  the same with mu_grad_cutoff = 0: the exact gradient of mu (every iterate adds its
               weight-gradient, so every pass also back-propagates into the weights)
  atent_last   the same with mu_grad_cutoff = 0.5: only the last iterate adds its weight-gradient (alpha = 0.9 of
               mu's weight); the pass structure of PGD-AT exactly (K x-gradient passes + 1 weight pass)
  plain_K+1    K + 1 plain forward-backward passes computing both input- and weight-gradients (the unit of cost)

Beside the times, each variant's ARITHMETIC is counted once (common.count_flops: the floating-point operations of
its matrix products and convolutions, forward and backward). That count is the same on every machine and every
run, so its ratios say what the step costs free of the machine's noise; the times say what it costs here.

Targets at K = 10 (printed beside the numbers): ATENT / PGD-AT <= 1.05 and ATENT / (K+1 passes) <= 1.2, checked
on the times ("meets_targets": the ratio of medians) and on the arithmetic ("meets_targets_flops"). Because one
ratio of medians moves by several per cent between runs on a shared machine, each time ratio is also taken round
by round ("paired": its median and a 95% bootstrap interval over rounds), and "verdicts" says per target whether
the whole interval is within it (met), beyond it (not met), or straddles it (unresolved).
Writes bench/results/atent_vs_pgd.json.

    python bench/bench_atent_vs_pgd.py [--norm linf l2] [--K 5 10 40] [--batch 128] [--repeats 15]
    python bench/bench_atent_vs_pgd.py --norm linf --K 1 --batch 4 --repeats 1 --warmup 0   # smoke
"""
from __future__ import annotations

import argparse

from common import (INPUTS, add_common_args, add_engine_args, count_flops, default_ball_eps, engine_options,
                    interleaved, medians, paired_ratio, prepare, start, summarize, synthetic_batch, target_note,
                    verdict, write_result)

import torch  # noqa: E402

from atentlib import defenses, models  # noqa: E402
from atentlib.config import AtentL2Defense, AtentLinfDefense, PgdAtDefense  # noqa: E402
from atentlib.threat import Ball  # noqa: E402

TARGETS = {"K": 10, "atent_over_pgd_at": 1.05, "atent_over_K+1_passes": 1.2}


def build_variants(norm: str, K: int, eps: float) -> dict:
    """PGD-AT, ATENT and exact-mu ATENT at the same K and in the same ball (radius eps)."""
    ball = Ball(norm, eps)
    pgd_step = 2.5 * eps / K  # Madry et al.'s rule: K steps can cross the ball
    pgd_at = defenses.build(PgdAtDefense(kind="pgd_at", steps=K, step_size=pgd_step), ball)
    if norm == "linf":
        def atent_cfg(cutoff: float):
            return AtentLinfDefense(kind="atent_linf", K=K, step_size=pgd_step, radius=eps, mu_grad_cutoff=cutoff)
    else:
        def atent_cfg(cutoff: float):  # Table S1: eta' = 2 eps / K; projected on the same l2 ball as PGD
            return AtentL2Defense(kind="atent_l2", K=K, step_size=2 * eps / K, radius=eps, mu_grad_cutoff=cutoff)
    return {"pgd_at": pgd_at, "atent": defenses.build(atent_cfg(0.02), ball),
            "atent_exact": defenses.build(atent_cfg(0.0), ball), "atent_last": defenses.build(atent_cfg(0.5), ball)}


def ratios(cost: dict[str, float]) -> dict[str, float]:
    """The reported ratios of one cost per variant (median seconds, or FLOPs)."""
    return {"atent_over_pgd_at": cost["atent"] / cost["pgd_at"],
            "atent_exact_over_pgd_at": cost["atent_exact"] / cost["pgd_at"],
            "atent_last_over_pgd_at": cost["atent_last"] / cost["pgd_at"],
            "atent_over_K+1_passes": cost["atent"] / cost["plain_K+1"],
            "atent_exact_over_K+1_passes": cost["atent_exact"] / cost["plain_K+1"],
            "pgd_at_over_K+1_passes": cost["pgd_at"] / cost["plain_K+1"]}


PAIRS = {"atent_over_pgd_at": ("atent", "pgd_at"), "atent_exact_over_pgd_at": ("atent_exact", "pgd_at"),
         "atent_last_over_pgd_at": ("atent_last", "pgd_at"), "atent_over_K+1_passes": ("atent", "plain_K+1")}


def paired(times: dict[str, list[float]]) -> dict[str, dict]:
    """Each ratio round by round, with its median and 95% bootstrap interval (common.paired_ratio)."""
    return {key: paired_ratio(times, num, den) for key, (num, den) in PAIRS.items()}


def time_verdicts(p: dict[str, dict]) -> dict[str, str]:
    """met / not met / unresolved for each target, from the interval of the round-by-round ratio."""
    return {key: verdict(p[key]["ci"], TARGETS[key]) for key in ("atent_over_pgd_at", "atent_over_K+1_passes")}


def meets_targets(r: dict[str, float]) -> bool:
    return (r["atent_over_pgd_at"] <= TARGETS["atent_over_pgd_at"]
            and r["atent_over_K+1_passes"] <= TARGETS["atent_over_K+1_passes"])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--norm", nargs="+", choices=["linf", "l2"], default=["linf", "l2"])
    ap.add_argument("--K", type=int, nargs="+", default=[5, 10, 40], help="steps per batch (default 5 10 40)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--model", default="smallcnn", help="an atentlib.models name (default smallcnn, MNIST shape)")
    add_common_args(ap, "atent_vs_pgd.json", repeats=15)
    add_engine_args(ap)
    args = ap.parse_args(argv)
    device, load0 = start(args)
    prep = prepare(models.build(args.model), device, engine_options(args))
    model = prep.model
    x, y = synthetic_batch(args.model, args.batch, device, seed=args.seed)
    x = prep.inputs(x)

    def step(defense, net=model):
        def run():
            net.zero_grad(set_to_none=True)
            with prep.autocast(device):
                defense.backward(net, x, y, None)
        return run

    def plain(n, net=model):
        def run():
            net.zero_grad(set_to_none=True)
            for _ in range(n):
                xr = x.clone().requires_grad_(True)
                with prep.autocast(device):
                    loss = torch.nn.functional.cross_entropy(net(xr), y)
                loss.backward()
        return run

    results = []
    print(f"{INPUTS}; model {args.model}, batch {args.batch}, device {device}, dtype {prep.dtype}, "
          f"{torch.get_num_threads()} threads, {args.repeats} interleaved repeats; ratios of medians")
    for norm in args.norm:
        eps = default_ball_eps(args.model, norm)
        for K in args.K:
            variants = build_variants(norm, K, eps)
            fns = {name: step(d) for name, d in variants.items()}
            fns["plain_K+1"] = plain(K + 1)
            times = interleaved(fns, args.repeats, device, warmup=args.warmup)
            med = medians(times)
            # counted on the eager model (a compiled one may fuse or decompose the products differently)
            flops = {name: count_flops(step(d, prep.eager)) for name, d in variants.items()}
            flops["plain_K+1"] = count_flops(plain(K + 1, prep.eager))
            flop_ratios = ratios(flops)
            pairs = paired(times)
            row = {"norm": norm, "K": K, "eps": eps, "median_seconds": med, "timings": summarize(times),
                   **ratios(med), "meets_targets": meets_targets(ratios(med)),
                   "paired": pairs, "verdicts": time_verdicts(pairs),
                   "flops": flops, "flop_ratios": flop_ratios, "meets_targets_flops": meets_targets(flop_ratios)}
            results.append(row)
            tag = " (targets are stated at K=10)" if K != TARGETS["K"] else ""
            print(f"{norm} K={K}{tag}: ATENT/PGD-AT = {target_note(row['atent_over_pgd_at'], 1.05)}, "
                  f"ATENT/(K+1 passes) = {target_note(row['atent_over_K+1_passes'], 1.2)}; exact-mu: "
                  f"ATENT/PGD-AT = {row['atent_exact_over_pgd_at']:.3f}, "
                  f"ATENT/(K+1) = {row['atent_exact_over_K+1_passes']:.3f}; last iterate only: "
                  f"ATENT/PGD-AT = {row['atent_last_over_pgd_at']:.3f}; medians: "
                  + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in med.items()))
            print(f"{norm} K={K} round by round (median, 95% interval): " + "; ".join(
                f"{key} {p['median']:.3f} [{p['ci'][0]:.3f}, {p['ci'][1]:.3f}]"
                + (f" -> {row['verdicts'][key]}" if key in row["verdicts"] else "") for key, p in pairs.items()))
            print(f"{norm} K={K} arithmetic (FLOPs of products and convolutions): ATENT/PGD-AT = "
                  f"{target_note(flop_ratios['atent_over_pgd_at'], 1.05)}, ATENT/(K+1 passes) = "
                  f"{target_note(flop_ratios['atent_over_K+1_passes'], 1.2)}; exact-mu "
                  f"{flop_ratios['atent_exact_over_pgd_at']:.3f}, last iterate only "
                  f"{flop_ratios['atent_last_over_pgd_at']:.3f}; PGD-AT {flops['pgd_at'] / 1e9:.2f} GFLOP per step")
    payload = {"model": args.model, "batch": args.batch, "repeats": args.repeats, "warmup": args.warmup,
               "engine": prep.record(), "targets": TARGETS,
               "variants": {"pgd_at": "PGD-AT step (K x-gradient passes + 1 weight pass)",
                            "atent": "ATENT step, mu_grad_cutoff = 0.02 (default)",
                            "atent_exact": "ATENT step, mu_grad_cutoff = 0 (exact gradient of mu)",
                            "atent_last": "ATENT step, mu_grad_cutoff = 0.5 (weight-gradient of the last iterate only)",
                            "plain_K+1": "K+1 plain forward-backward passes (input and weight gradients)"},
               "results": results}
    write_result("atent_vs_pgd", device, load0, payload, args.out)
    return payload


if __name__ == "__main__":
    main()
