"""Benchmark: randomized-smoothing certification (Smooth.certify_batch) over plain batched forward passes.

SYNTHETIC inputs (random tensors of the model's input shape, an untrained model): time only; the certificates
themselves mean nothing here. Both sides evaluate the same number of noisy images, B * (n0 + n):

  certify   atentlib.certify.Smooth(batch_size = B).certify_batch(x[B], y, n0, n, alpha): per input, n0
            selection and n estimation samples in batches of B, class counts on the host, a Clopper-Pearson bound
  plain     one plain batched forward pass per noise sample: for each of the n0 + n samples,
            model(x + sigma * N(0, I)) on the whole batch x[B] (no_grad, eval mode) -- the floor of any
            Monte Carlo certificate with this model and batch size

With Smooth's batch size equal to B (the default) and n0, n multiples of B, both run the same number of
forwards of the same size, so the ratio (certify / plain, of MEDIAN times, interleaved) is certify's own
overhead. Writes bench/results/certify.json.

    python bench/bench_certify.py [--model smallcnn] [--inputs 100] [--n0 100] [--n 1000] [--repeats 3]
    python bench/bench_certify.py --inputs 2 --n0 2 --n 4 --repeats 1 --warmup 0   # smoke
"""
from __future__ import annotations

import argparse

from common import (INPUTS, add_common_args, eval_mode, interleaved, medians, start, summarize, synthetic_batch,
                    write_result)

import torch  # noqa: E402

from atentlib import models  # noqa: E402
from atentlib.certify import Smooth  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smallcnn", help="an atentlib.models name (default smallcnn, MNIST shape)")
    ap.add_argument("--inputs", type=int, default=100, help="B: inputs certified (and the plain batch size)")
    ap.add_argument("--n0", type=int, default=100, help="selection samples per input (paper: 100)")
    ap.add_argument("--n", type=int, default=1000, help="estimation samples per input (paper: 100,000)")
    ap.add_argument("--sigma", type=float, default=0.12)
    ap.add_argument("--alpha", type=float, default=0.001)
    ap.add_argument("--smooth-batch", type=int, default=None, help="Smooth's batch_size (default: --inputs)")
    add_common_args(ap, "certify.json", repeats=3)
    args = ap.parse_args(argv)
    device, load0 = start(args)
    model = models.build(args.model).to(device).eval()
    x, y = synthetic_batch(args.model, args.inputs, device, seed=args.seed)
    smooth_batch = args.smooth_batch or args.inputs
    smooth = Smooth(model, num_classes=10, sigma=args.sigma, batch_size=smooth_batch)
    samples = args.n0 + args.n

    def certify():
        smooth.certify_batch(x, y, args.n0, args.n, args.alpha)

    def plain():
        with torch.no_grad():
            for _ in range(samples):
                model(x + args.sigma * torch.randn_like(x)).argmax(1)

    print(f"{INPUTS}; model {args.model} (untrained), B = {args.inputs} inputs, n0 = {args.n0}, n = {args.n}, "
          f"Smooth batch {smooth_batch}, device {device}, {torch.get_num_threads()} threads, "
          f"{args.repeats} interleaved repeats")
    with eval_mode(model):
        times = interleaved({"certify": certify, "plain": plain}, args.repeats, device, warmup=args.warmup)
    med = medians(times)
    images = args.inputs * samples
    ratio = med["certify"] / med["plain"]
    print(f"certify {med['certify']:.3f} s, plain {med['plain']:.3f} s for {images} noisy images each: "
          f"certify / plain = {ratio:.3f} ({images / med['certify']:.0f} vs {images / med['plain']:.0f} img/s)")
    payload = {"model": args.model, "model_state": "untrained (random init)", "inputs_certified": args.inputs,
               "n0": args.n0, "n": args.n, "sigma": args.sigma, "alpha": args.alpha,
               "smooth_batch_size": smooth_batch, "noisy_images_each": images, "repeats": args.repeats,
               "warmup": args.warmup, "dtype": "float32", "median_seconds": med, "timings": summarize(times),
               "images_per_second": {k: images / v for k, v in med.items()},
               "certify_over_plain": ratio,
               "note": "plain = one batched forward of all B inputs per noise sample (n0 + n of them)"}
    write_result("certify", device, load0, payload, args.out)
    return payload


if __name__ == "__main__":
    main()
