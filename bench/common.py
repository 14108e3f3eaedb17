"""Shared pieces of the benchmarks (bench/bench_*.py), so that every bench times, sets up and records alike.

* device set-up as the training engine does it (atentlib.train): bf16 autocast via resolve_amp, channels_last,
  cudnn.benchmark, optional torch.compile -- all on CUDA only; on a CPU everything runs in float32;
* synchronised timing (torch.cuda.synchronize before and after each timed call on CUDA);
* interleaved repeats: the variants run in turn, round after round (the order shuffled each round), so machine
  load falls on all of them alike; ratios are ratios of MEDIANS, and paired_ratio adds the round-by-round ratio
  with a bootstrap interval, whose verdict against a target is met / not met / unresolved;
* arithmetic (count_flops): the floating-point operations of the matrix products and convolutions a variant
  runs, forward and backward -- a noise-free measure of cost beside the noisy wall-clock one;
* the JSON record: device and its name, torch version, threads, load average, and the field
  "inputs": "synthetic random tensors (timing only)" -- no bench ever measures accuracy.

Scripts import this as `common` (python puts bench/ on sys.path when a bench is run as a script).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere finds atentlib without an install
    sys.path.insert(0, str(REPO))

from atentlib.checkpoint import write_json as _write_json  # noqa: E402
from atentlib.train import pick_device, resolve_amp  # noqa: E402

INPUTS = "synthetic random tensors (timing only)"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# input shape of each model of atentlib.models: the MNIST models take 1x28x28, the CIFAR ones 3x32x32
MNIST_MODELS = ("smallcnn", "lenet5", "mlp")


def input_shape(model_name: str) -> tuple[int, int, int]:
    return (1, 28, 28) if model_name in MNIST_MODELS else (3, 32, 32)


def default_ball_eps(model_name: str, norm: str) -> float:
    """The papers' threat radius for the data set the model belongs to (MNIST: 0.3 / 2.0; CIFAR: 8/255 / 0.5)."""
    if model_name in MNIST_MODELS:
        return 0.3 if norm == "linf" else 2.0
    return 8 / 255 if norm == "linf" else 0.5


# ----------------------------------------------------------------------------- device set-up (as the engine)
@dataclass(frozen=True)
class EngineOptions:
    """The engine's speed options (TrainConfig: amp, channels_last, cudnn_benchmark, compile)."""

    amp: str = "auto"  # auto = bf16 autocast on CUDA, float32 elsewhere
    channels_last: bool = True  # CUDA only
    cudnn_benchmark: bool = True  # CUDA only
    compile: bool = False


def add_engine_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("engine options (as TrainConfig; the GPU ones act on CUDA only)")
    g.add_argument("--amp", choices=["auto", "off", "bf16"], default="auto",
                   help="autocast dtype: auto = bf16 on CUDA, float32 elsewhere (default auto)")
    g.add_argument("--no-channels-last", action="store_true", help="keep the default memory format on CUDA")
    g.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cudnn.benchmark off on CUDA")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (warm-up steps compile it)")


def engine_options(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(amp=args.amp, channels_last=not args.no_channels_last,
                         cudnn_benchmark=not args.no_cudnn_benchmark, compile=args.compile)


@dataclass
class Prepared:
    model: nn.Module  # the module the timed code calls (compiled when asked)
    eager: nn.Module  # the model itself
    amp_dtype: torch.dtype | None
    channels_last: bool
    options: EngineOptions

    @property
    def dtype(self) -> str:
        return str(self.amp_dtype or torch.float32).replace("torch.", "")

    def autocast(self, device: torch.device):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.amp_dtype)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def record(self) -> dict:
        return {"dtype": self.dtype, "autocast": self.amp_dtype is not None, "channels_last": self.channels_last,
                "cudnn_benchmark": bool(torch.backends.cudnn.benchmark), "compile": self.options.compile}


def prepare(model: nn.Module, device: torch.device, opts: EngineOptions = EngineOptions()) -> Prepared:
    """Move the model to the device and apply the engine's GPU options as atentlib.train.fit does on CUDA.

    On a CPU the benches keep float32 and the default memory format (the engine itself uses channels_last there,
    and bf16 where a profile asks for it): they compare methods with each other, not layouts.
    """
    model = model.to(device)
    channels_last = device.type == "cuda" and opts.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda" and opts.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    amp_dtype = resolve_amp(opts.amp, device)
    run_model = torch.compile(model) if opts.compile else model
    return Prepared(run_model, model, amp_dtype, channels_last, opts)


def synthetic_batch(model_name: str, batch: int, device: torch.device, num_classes: int = 10,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """SYNTHETIC uniform-random inputs in [0, 1] of the model's input shape and random labels (timing only)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *input_shape(model_name), generator=g)
    y = torch.randint(0, num_classes, (batch,), generator=g)
    return x.to(device), y.to(device)


# ----------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of fn(), with the device synchronised before and after."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device, warmup: int = 1,
                after_each: Callable[[str], None] | None = None,
                before_each: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each variant over `repeats` rounds; within a round every variant runs once, in an order shuffled
    afresh each round (seeded), so no variant always follows the same one: a rotation keeps the cyclic order, and
    a variant's time can depend on what ran just before it (allocator and cache state). `warmup` untimed rounds
    come first (compilation, cudnn autotuning, caches). `before_each(name)` / `after_each(name)` run outside the
    timed region (e.g. peak-memory bookkeeping)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(repeats):
        for name in order.sample(names, len(names)):
            if before_each:
                before_each(name)
            times[name].append(timed(fns[name], device))
            if after_each:
                after_each(name)
    return times


def summarize(times: dict[str, list[float]]) -> dict[str, dict]:
    """Per variant: median, min, max, number of timed repeats and all the values (seconds)."""
    return {name: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v),
                   "seconds": [round(s, 6) for s in v]} for name, v in times.items()}


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(v) for name, v in times.items()}


def paired_ratio(times: dict[str, list[float]], num: str, den: str, level: float = 0.95, resamples: int = 4000,
                 seed: int = 0) -> dict:
    """The ratio num/den round by round (both ran in the same round, so slow drifts of the machine cancel), its
    median, and a bootstrap percentile interval of that median over rounds (seeded, so reruns agree).

    Returns {"median", "ci": [low, high], "level", "rounds"}. With one round the interval is that round's ratio.
    """
    if len(times[num]) != len(times[den]) or not times[num]:
        raise ValueError(f"paired_ratio needs the same non-zero number of rounds of {num!r} and {den!r}, got "
                         f"{len(times[num])} and {len(times[den])}")
    r = [a / b for a, b in zip(times[num], times[den])]
    rng = random.Random(seed)
    boot = sorted(statistics.median(rng.choices(r, k=len(r))) for _ in range(resamples))
    tail = (1.0 - level) / 2
    low, high = boot[int(tail * (resamples - 1))], boot[int(round((1.0 - tail) * (resamples - 1)))]
    return {"median": statistics.median(r), "ci": [low, high], "level": level, "rounds": len(r)}


def verdict(ci: list[float], target: float, at_most: bool = True) -> str:
    """'met' when the whole interval is on the target's side, 'not met' when it is wholly beyond it, else
    'unresolved' (the machine's noise is larger than the distance to the target)."""
    low, high = ci
    inside, outside = (high <= target, low > target) if at_most else (low >= target, high < target)
    return "met" if inside else "not met" if outside else "unresolved"


def target_note(value: float, target: float, at_most: bool = True) -> str:
    ok = value <= target if at_most else value >= target
    return f"{value:.3f} (target {'<=' if at_most else '>='} {target}: {'met' if ok else 'NOT met'})"


# ----------------------------------------------------------------------------- arithmetic
class FlopCount(TorchDispatchMode):
    """Adds up the floating-point operations of every matrix product and convolution run inside it (forward and
    backward: aten.mm / addmm / bmm / convolution / convolution_backward ...), with torch's own shape formulas
    (torch.utils.flop_counter.flop_registry: 2mnk per product; a convolution's backward counts only the
    gradients autograd asks for). Elementwise work (activations, the Langevin noise, projections) is not counted.

    torch's FlopCounterMode would do the same, but its per-module tracker raises under torch.autograd.grad with
    respect to a leaf tensor, which is exactly how PGD and the samplers take input-gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of the matrix products and convolutions of one call of fn() (see FlopCount):
    the same count on every machine and every run, unlike a time."""
    with FlopCount() as counter:
        fn()
    return counter.total


# ----------------------------------------------------------------------------- GPU memory
def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """torch.cuda.max_memory_allocated in bytes since the last reset (None off CUDA)."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


# ----------------------------------------------------------------------------- the record
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {cpu_name()}"


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment(device: torch.device) -> dict:
    """Where and how a bench ran (written at the top of every JSON)."""
    env = {"inputs": INPUTS, "device": device.type, "device_name": device_name(device),
           "torch": torch.__version__, "cuda": torch.version.cuda if device.type == "cuda" else None,
           "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
           "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
           "python": platform.python_version(), "platform": platform.platform(),
           "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return env


def add_common_args(ap: argparse.ArgumentParser, default_out: str, repeats: int, warmup: int = 1) -> None:
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto = CUDA when present, else CPU (default auto)")
    ap.add_argument("--repeats", type=int, default=repeats, help=f"timed rounds (default {repeats})")
    ap.add_argument("--warmup", type=int, default=warmup, help=f"untimed rounds first (default {warmup})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS_DIR / default_out), help="JSON output (default %(default)s)")


def start(args: argparse.Namespace) -> tuple[torch.device, list[float] | None]:
    """Seed, pick the device; returns (device, load average at the start)."""
    torch.manual_seed(args.seed)
    return pick_device(args.device), loadavg()


def write_result(bench: str, device: torch.device, load_start: list[float] | None, payload: dict,
                 out: str | Path) -> Path:
    """bench/results/<name>.json: the environment first, then the bench's own fields."""
    record = {"bench": bench, **environment(device), "loadavg_start": load_start, "loadavg_end": loadavg(),
              **payload}
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(record, path)
    print(f"wrote {path}  ({INPUTS}; device {record['device_name']}, {record['threads']} threads, "
          f"load average {load_start} -> {record['loadavg_end']})")
    return path


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)
