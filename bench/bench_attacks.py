"""Benchmark: our PGD against torchattacks' PGD and foolbox's PGD on the same model, batch and budget.

SYNTHETIC inputs (random tensors of the model's input shape, random labels, an untrained model): this measures
throughput only, not attack strength. The three implementations are timed interleaved in one process, round
after round (order shuffled each round), and compared by the ratio of their MEDIAN times, i.e. the throughput ratio
(images per second of ours over theirs). Target: ours >= 1.0x torchattacks. The ratio is also taken round by round
("paired": median and 95% bootstrap interval over rounds), and "verdict" says whether the whole interval clears the
target (met), falls short of it (not met) or straddles it (unresolved: closer than this machine's noise).

  ours         atentlib.attacks.pgd (restarts = 1: steps forward-backward passes; the scoring forward that chooses
               between restarts is skipped when there is only one)
  torchattacks torchattacks.PGD / PGDL2 (steps forward-backward passes)
  foolbox      foolbox.attacks.LinfPGD / L2PGD with abs_stepsize on a PyTorchModel built once (steps passes)

All three: the model in eval mode, random start, the same eps, step size and number of steps; each result is
checked to lie in the ball and in [0, 1]. Writes bench/results/attacks.json.

    python bench/bench_attacks.py [--norm linf] [--model resnet20] [--batch 128] [--steps 10] [--repeats 5]
    python bench/bench_attacks.py --model smallcnn --batch 4 --steps 1 --repeats 1 --warmup 0   # smoke
"""
from __future__ import annotations

import argparse

from common import (INPUTS, add_common_args, default_ball_eps, eval_mode, interleaved, medians, paired_ratio, start,
                    summarize, synthetic_batch, target_note, verdict, write_result)

import torch  # noqa: E402

from atentlib import models  # noqa: E402
from atentlib.attacks.pgd import pgd  # noqa: E402
from atentlib.threat import Ball, per_sample_norm  # noqa: E402

TARGET_OURS_OVER_TORCHATTACKS = 1.0


def attacks(model, norm: str, eps: float, steps: int, step_size: float, device: torch.device) -> dict:
    """name -> (x, y) -> x_adv for each library that is installed; missing ones are reported, not fatal."""
    ball = Ball(norm, eps)
    out, missing = {"ours": lambda x, y: pgd(model, x, y, ball, steps=steps, step_size=step_size)}, {}
    try:
        import torchattacks  # never `import autoattack`: the top-level package torchattacks ships is broken

        cls = torchattacks.PGD if norm == "linf" else torchattacks.PGDL2
        ta = cls(model, eps=eps, alpha=step_size, steps=steps, random_start=True)
        out["torchattacks"] = lambda x, y: ta(x, y)
    except ImportError as err:
        missing["torchattacks"] = f"not installed ({err})"
    try:
        import foolbox as fb

        fmodel = fb.PyTorchModel(model, bounds=(0.0, 1.0), device=device)
        cls = fb.attacks.LinfPGD if norm == "linf" else fb.attacks.L2PGD
        fa = cls(abs_stepsize=step_size, steps=steps, random_start=True)
        out["foolbox"] = lambda x, y: fa(fmodel, x, y, epsilons=eps)[1]
    except ImportError as err:
        missing["foolbox"] = f"not installed ({err})"
    return out, missing


def library_versions() -> dict:
    versions = {}
    for name in ("torchattacks", "foolbox"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return versions


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--norm", nargs="+", choices=["linf", "l2"], default=["linf"])
    ap.add_argument("--model", default="resnet20", help="an atentlib.models name (default resnet20, CIFAR shape)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--eps", type=float, default=None, help="radius (default: the data set's, e.g. 8/255 linf)")
    add_common_args(ap, "attacks.json", repeats=5)
    args = ap.parse_args(argv)
    device, load0 = start(args)
    model = models.build(args.model).to(device).eval()  # float32, default memory format: the libraries' own set-up
    x, y = synthetic_batch(args.model, args.batch, device, seed=args.seed)
    results = []
    print(f"{INPUTS}; model {args.model} (untrained), batch {args.batch}, device {device}, float32, "
          f"{torch.get_num_threads()} threads, {args.repeats} interleaved repeats; ratios of medians")
    for norm in args.norm:
        eps = args.eps if args.eps is not None else default_ball_eps(args.model, norm)
        step_size = 2.5 * eps / args.steps
        fns, missing = attacks(model, norm, eps, args.steps, step_size, device)
        last: dict[str, torch.Tensor] = {}

        def runner(name):
            def run():
                last[name] = fns[name](x, y)
            return run

        with eval_mode(model):
            times = interleaved({n: runner(n) for n in fns}, args.repeats, device, warmup=args.warmup)
        med = medians(times)
        checks = {}
        for name, x_adv in last.items():
            dist = per_sample_norm(x_adv - x, norm).max().item()
            with torch.no_grad():
                wrong = (model(x_adv).argmax(1) != y).float().mean().item()
            checks[name] = {"max_perturbation": dist, "in_ball": dist <= eps * (1 + 1e-5) + 1e-6,
                            "in_box": bool(x_adv.min() >= 0 and x_adv.max() <= 1),
                            "misclassified_share": wrong}
        row = {"norm": norm, "eps": eps, "steps": args.steps, "step_size": step_size, "median_seconds": med,
               "images_per_second": {n: args.batch / s for n, s in med.items()}, "timings": summarize(times),
               "checks": checks, "missing": missing}
        row["paired"] = {}
        for other in ("torchattacks", "foolbox"):
            if other in med:
                row[f"ours_over_{other}_throughput"] = med[other] / med["ours"]
                # throughput ours/other = time other/ours, round by round
                row["paired"][f"ours_over_{other}_throughput"] = paired_ratio(times, other, "ours")
        if "torchattacks" in med:
            row["meets_target"] = row["ours_over_torchattacks_throughput"] >= TARGET_OURS_OVER_TORCHATTACKS
            row["verdict"] = verdict(row["paired"]["ours_over_torchattacks_throughput"]["ci"],
                                     TARGET_OURS_OVER_TORCHATTACKS, at_most=False)
        results.append(row)
        parts = [f"{n} {row['images_per_second'][n]:.1f} img/s" for n in med]
        if "torchattacks" in med:
            p = row["paired"]["ours_over_torchattacks_throughput"]
            parts.append("ours/torchattacks throughput = "
                         + target_note(row["ours_over_torchattacks_throughput"], 1.0, at_most=False)
                         + f"; round by round {p['median']:.3f} [{p['ci'][0]:.3f}, {p['ci'][1]:.3f}] "
                         f"-> {row['verdict']}")
        if "foolbox" in med:
            parts.append(f"ours/foolbox throughput = {row['ours_over_foolbox_throughput']:.3f}")
        print(f"{norm} PGD-{args.steps}: " + ", ".join(parts) + "".join(f"; {k} {v}" for k, v in missing.items()))
    payload = {"model": args.model, "model_state": "untrained (random init)", "batch": args.batch,
               "repeats": args.repeats, "warmup": args.warmup, "dtype": "float32",
               "libraries": library_versions(), "target": {"ours_over_torchattacks_throughput": 1.0},
               "results": results}
    write_result("attacks", device, load0, payload, args.out)
    return payload


if __name__ == "__main__":
    main()
