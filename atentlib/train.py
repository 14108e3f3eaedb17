"""The training engine: one loop for every defense, with checkpoints, resume, and per-epoch curves.

`fit` trains one (experiment, defense) of a profile into a run folder:
  checkpoint.pt (+ .sha256)  the state to resume from: model, optimiser, scheduler, RNG states, history, config
  last.pt (+ .sha256)        the model of the last epoch (weights, epoch, spec: what evaluation reads)
  best.pt (+ .sha256)        the model of the epoch with the best robust accuracy on the validation digits
  metrics.csv                one row per epoch: loss, natural and robust accuracy on train and validation digits
                             (Figure S1); the held-out test digits are never looked at during training
  run.json                   profile, seed, git commit, data used, device, timings, why training stopped
A run killed at any point resumes from its last finished epoch and ends with the same numbers as an
uninterrupted one: the data order is drawn from (seed, epoch), and the RNG states travel in the checkpoint.

Options (TrainConfig): early stopping on the validation digits' robust accuracy (PGD-AT(E)), fine-tuning from a verified
checkpoint (init_from), crop+flip augmentation on the device (atentlib.augment), bf16 autocast, channels_last,
cudnn.benchmark and torch.compile on CUDA, and several processes under torchrun (atentlib.distributed).
The loss is checked for NaN/inf on the device and read by the host once every nan_check_every batches.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import augment, checkpoint, defenses, distributed, models
from .attacks.pgd import pgd
from .config import ExperimentConfig, Profile, TrainConfig
from .data import DataBundle, Split, atomic_write_bytes, stratified_sample
from .models import use_channels_last
from .scoring import accuracy, attack_accuracy
from .stopping import NonFiniteWatch, TrainingError, early_stop_reason
from .threat import Ball


# the experiment sections a run's fingerprint covers: what changes its training. Evaluation suites and the other
# defenses of the experiment are left out, so adding an attack or a defense never restarts a finished run.
FINGERPRINTED_SECTIONS = ("dataset", "model", "threat", "train", "defenses")
# TrainConfig fields that decide how far a run goes (it may be resumed and taken further) or only how fast it runs
NOT_FINGERPRINTED = ("epochs", "early_stopping_patience", "compile", "channels_last", "cudnn_benchmark",
                     "nan_check_every")
# fields added after runs existed: fingerprinted only when set away from their default, so those runs stay valid
FINGERPRINTED_IF_SET = ("init_from", "augment", "amp")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash decides whether a checkpoint may be resumed."""

    profile: str
    experiment: str
    defense: str
    exp: ExperimentConfig

    def fingerprint(self) -> str:
        exp = {k: v for k, v in self.exp.model_dump(mode="json").items() if k in FINGERPRINTED_SECTIONS}
        exp["defenses"] = {self.defense: exp["defenses"][self.defense]}
        for train in [exp["train"]] + [d.get("train", {}) for d in exp["defenses"].values()]:
            for key in NOT_FINGERPRINTED:
                train.pop(key, None)
            for key in FINGERPRINTED_IF_SET:
                if key in train and train[key] == TrainConfig.model_fields[key].default:
                    train.pop(key)
        payload = {"experiment": exp, "defense": self.defense}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def pick_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device: cuda was asked for but no CUDA device is available (allowed: auto, cpu, cuda)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the training steps: bf16 = bfloat16 anywhere; auto = bfloat16 on CUDA and none
    (float32) elsewhere; off (the default) = float32."""
    if amp == "bf16" or (amp == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (emulated bf16 is slower than float32)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else True


def make_optimizer(model: nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    o = tc.optimizer
    if o.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                           nesterov=o.nesterov)


def lr_scheduler(optimizer: torch.optim.Optimizer, tc: TrainConfig) -> torch.optim.lr_scheduler.MultiStepLR:
    """lr times lr_decay from each (1-based) epoch of lr_milestones on, as the reference codes' `if epoch >= m`
    does with epochs counted from 1. The scheduler steps after each epoch, so its milestone is m - 1."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[m - 1 for m in tc.lr_milestones],
                                                gamma=tc.lr_decay)


def eps_scale(tc: TrainConfig, epoch: int, batch: int, n_batches: int) -> float:
    """Linear warm-up of the threat radius over eps_warmup_epochs, per batch."""
    if tc.eps_warmup_epochs == 0:
        return 1.0
    return min(1.0, (epoch + (batch + 1) / n_batches) / tc.eps_warmup_epochs)


MONITOR_SEED = 0  # which digits the monitor watches, and its PGD's random starts: the same in every run


def monitor_subset(split: Split, n: int) -> Split:
    """A fixed-seed random sample of min(n, len(split)) examples, each class in proportion (the training digits
    are stored sorted by class: their first n would be one class)."""
    idx = stratified_sample(split.y, min(n, len(split)), MONITOR_SEED)
    return Split(split.x[idx], split.y[idx])


@torch.no_grad()
def _monitor(model: nn.Module, split: Split, ball: Ball, tc: TrainConfig, device) -> tuple[float, float]:
    """Natural and PGD accuracy (%) on `split`, in float32, with its own RNG: the training randomness (attack
    starts, Langevin noise) is the same whether or not the monitor runs."""
    x, y = split.x.to(device), split.y.to(device)
    steps, step_size = tc.monitor_pgd_steps, 2.5 * ball.eps / tc.monitor_pgd_steps
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(MONITOR_SEED)
        nat = accuracy(model, x, y)
        rob = attack_accuracy(model, x, y, lambda xb, yb: pgd(model, xb, yb, ball, steps, step_size))
    return nat, rob


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_metrics_csv(history: list[dict], path: Path) -> None:
    if not history:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(path, buf.getvalue().encode())


def read_metrics_csv(path: Path) -> list[dict]:
    """The rows write_metrics_csv wrote, numbers as numbers (int where the text is one, else float)."""
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> float | int | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def load_init(tc: TrainConfig, device: torch.device) -> tuple[dict | None, dict | None]:
    """The model weights of tc.init_from (SHA-256 verified) and a record of where they came from."""
    if tc.init_from is None:
        return None, None
    path = Path(tc.init_from)
    state = checkpoint.load(path, map_location=device)  # CheckpointError if missing, unverifiable or damaged
    record = {"path": str(path), "sha256": path.with_name(path.name + ".sha256").read_text().strip(),
              "epoch": state.get("epoch", -1) + 1, "selected": state.get("selected", "last epoch"),
              "spec": {k: state.get("spec", {}).get(k) for k in ("profile", "experiment", "defense", "model")}}
    return state["model"], record


def train_epoch(model: nn.Module, defense, optimizer: torch.optim.Optimizer, tc: TrainConfig, x: torch.Tensor,
                y: torch.Tensor, epoch: int, ctx: distributed.Context, amp_dtype: torch.dtype | None,
                where: str, progress: bool) -> float:
    """One pass over the training set; returns the mean training loss (over all ranks)."""
    device, params = x.device, [p for p in model.parameters() if p.requires_grad]
    n_batches = math.ceil(len(y) / tc.batch_size)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(tc.seed * 100_003 + epoch)).to(device)
    model.train()
    loss_sum, seen = torch.zeros((), device=device), torch.zeros((), device=device)
    watch = NonFiniteWatch(n_batches, device)
    bar = tqdm(range(n_batches), desc=f"{where} epoch {epoch + 1}/{tc.epochs}", disable=not progress, leave=False)
    for b in bar:
        batch = order[b * tc.batch_size:(b + 1) * tc.batch_size]
        idx = distributed.shard(ctx, batch)
        xb, yb = augment.apply(tc.augment, x[idx]), y[idx]
        defense.set_eps_scale(eps_scale(tc, epoch, b, n_batches))
        optimizer.zero_grad(set_to_none=True)
        distributed.broadcast_buffers(ctx, model)
        if len(yb):
            with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext():
                out = defense.backward(model, xb, yb, idx)
            watch.update(out.loss, b)
            loss_sum += out.loss.float() * len(yb)
            seen += len(yb)
        distributed.average_gradients(ctx, params, len(yb) / len(batch))
        if tc.grad_clip:
            nn.utils.clip_grad_norm_(params, tc.grad_clip)
        optimizer.step()
        if (b + 1) % tc.nan_check_every == 0 or b == n_batches - 1:
            watch.check(ctx, epoch, b + 1, where)
            if progress:
                bar.set_postfix(loss=f"{(loss_sum / seen.clamp(min=1)).item():.3f}")
    distributed.all_reduce_(ctx, loss_sum)
    distributed.all_reduce_(ctx, seen)
    return (loss_sum / seen.clamp(min=1)).item()


def fit(profile: Profile, experiment: str, defense_name: str, data: DataBundle, out_dir: Path,
        device: torch.device | None = None, progress: bool = True, log=print) -> list[dict]:
    """Train (or resume) one run; returns the per-epoch history. Under torchrun, every rank calls it."""
    ctx = distributed.init_from_env(profile.device)
    try:
        return _fit(profile, experiment, defense_name, data, Path(out_dir), device, progress, log, ctx)
    finally:
        distributed.close(ctx)


@dataclass
class Run:
    """One run's fixed settings: what it trains, where, how, and where it writes (set once, read by each step)."""

    profile: Profile
    experiment: str
    defense_name: str
    exp: ExperimentConfig
    tc: TrainConfig
    spec: RunSpec
    data: DataBundle
    out_dir: Path
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    ctx: distributed.Context
    log: Callable[[str], None]
    progress: bool

    @property
    def where(self) -> str:
        return f"{self.experiment}/{self.defense_name}"

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / checkpoint.RESUME_FILE


@dataclass
class RunState:
    """What changes from epoch to epoch and travels in checkpoint.pt: the model, its optimiser, schedule and
    defense, the curves so far and the best robust validation accuracy."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.MultiStepLR
    defense: object
    ball: Ball
    num_classes: int
    init_record: dict | None
    history: list[dict]
    best_rob: float = -1.0
    start_epoch: int = 0


def _fit(profile, experiment, defense_name, data, out_dir, device, progress, log, ctx) -> list[dict]:
    """Restore or initialise the run, then one epoch at a time: train, measure, save."""
    run = _prepare(profile, experiment, defense_name, data, out_dir, device, progress, log, ctx)
    state = _restore_or_init(run)
    tc = run.tc
    train_model = torch.compile(state.model) if tc.compile else state.model
    if tc.early_stopping_patience is not None and data.val is None:
        raise TrainingError(f"{run.where}: early_stopping_patience needs a validation split: set "
                            f"data.{run.exp.dataset}.n_val > 0 in the profile (early stopping never looks at the "
                            "test digits)")
    mon_train = monitor_subset(data.train, tc.monitor_examples) if tc.monitor_examples else None
    mon_val = monitor_subset(data.val, tc.monitor_examples) if tc.monitor_examples and data.val is not None else None
    x_train, y_train = data.train.x.to(run.device), data.train.y.to(run.device)
    if run.channels_last:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    t_run = time.time()
    stop = early_stop_reason(state.history, tc.early_stopping_patience)
    for epoch in range(state.start_epoch, tc.epochs):
        if stop:
            break
        row = _one_epoch(run, state, train_model, x_train, y_train, epoch, mon_train, mon_val)
        state.history.append(row)
        stop = distributed.broadcast_object(run.ctx, early_stop_reason(state.history, tc.early_stopping_patience))
        rngs = distributed.gather_objects(run.ctx, _rng_state())
        if run.ctx.is_main:
            _save(run, state, epoch, row, rngs, has_validation=mon_val is not None)
    stop = stop if len(state.history) < tc.epochs else None  # a stop at the last epoch is the end of training
    if stop:
        run.log(f"{run.where}: {stop}")
    if run.ctx.is_main:
        _write_run_json(profile, experiment, defense_name, data, out_dir, run.device, tc, run.exp.defense(defense_name),
                        run.spec, state.history, stop, state.init_record, run.amp_dtype, run.ctx, time.time() - t_run)
    return state.history


def _prepare(profile, experiment, defense_name, data, out_dir, device, progress, log, ctx) -> Run:
    """The run's fixed settings, checked: device, precision, memory layout; logging on the main process only."""
    exp = profile.experiment(experiment)
    dcfg = exp.defense(defense_name)
    tc = exp.train_config(defense_name)
    distributed.check_supported(ctx, dcfg.kind)
    device = distributed.local_device(ctx, device or pick_device(profile.device))
    channels_last = use_channels_last(device, tc.channels_last)
    torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark or (device.type == "cuda" and tc.cudnn_benchmark)
    amp_dtype = resolve_amp(tc.amp, device)
    if not ctx.is_main:  # only rank 0 logs and writes files
        log, progress = (lambda *_: None), False
    if amp_dtype is torch.bfloat16 and device.type == "cpu" and not _cpu_has_bf16():
        log(f"amp = bf16 on a CPU without native bfloat16 (AVX512-BF16/AMX): slower than float32; set "
            f'experiments.{experiment}.train.amp: "off" (quoted: YAML reads a bare off as false)')
    return Run(profile, experiment, defense_name, exp, tc, RunSpec(profile.profile, experiment, defense_name, exp),
               data, out_dir, device, amp_dtype, channels_last, ctx, log, progress)


def _restore_or_init(run: Run) -> RunState:
    """A fresh model (seeded), or the last checkpoint's state where it belongs to this very run; init_from's weights
    for a fresh start; the RNG state the run had, so that a resumed run ends as an uninterrupted one."""
    tc, exp, ctx, log = run.tc, run.exp, run.ctx, run.log
    torch.manual_seed(tc.seed)
    num_classes = int(run.data.train.y.max().item()) + 1
    model = models.build(exp.model, num_classes=num_classes).to(run.device)
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, tc)
    scheduler = lr_scheduler(optimizer, tc)
    ball = Ball(exp.threat.norm, exp.threat.eps)
    defense = defenses.build(exp.defense(run.defense_name), ball, defenses.DefenseContext(
        model_name=exp.model, num_classes=num_classes, optimizer=optimizer, device=run.device))
    init_weights, init_record = load_init(tc, run.device)
    state = RunState(model, optimizer, scheduler, defense, ball, num_classes, init_record, history=[])
    rng, own_rng = None, False
    ckpt_path = run.checkpoint_path
    if ckpt_path.exists():
        saved = checkpoint.load(ckpt_path, map_location=run.device)
        if saved.get("fingerprint") != run.spec.fingerprint():
            log(f"{ckpt_path}: its parameters differ from the profile's; starting a fresh run")
        elif saved["epoch"] + 1 > tc.epochs:
            log(f"{ckpt_path} has {saved['epoch'] + 1} epochs, more than the {tc.epochs} asked for; starting a fresh run")
        elif (saved.get("init_from") or {}).get("sha256") != (init_record or {}).get("sha256"):
            log(f"{ckpt_path}: its init_from checkpoint has changed since; starting a fresh run")
        else:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            defense.load_state_dict(saved["defense"])
            state.history, state.best_rob, state.start_epoch = saved["history"], saved["best_rob"], saved["epoch"] + 1
            ranks = saved.get("rng_ranks", [saved["rng"]])
            own_rng = len(ranks) == ctx.world_size  # else: resumed with another number of processes
            rng = ranks[ctx.rank] if own_rng else saved["rng"]
            log(f"resuming {run.where} from epoch {state.start_epoch} of {tc.epochs} ({ckpt_path})")
    if init_weights is not None and state.start_epoch == 0:
        try:
            model.load_state_dict(init_weights)
        except RuntimeError as err:
            raise TrainingError(f"init_from {tc.init_from}: its weights do not fit model {exp.model!r}: "
                                f"{err}") from None
        log(f"{run.where}: initialised from {tc.init_from} (epoch {init_record['epoch']}); optimiser starts fresh")
    distributed.broadcast_module(ctx, model)  # one starting point on every rank
    if rng is not None:
        _set_rng_state(rng)
    if ctx.rank > 0 and not own_rng:
        torch.manual_seed(tc.seed + 7919 * ctx.rank + state.start_epoch)  # other noise (attack starts) on other ranks
    return state


def _one_epoch(run: Run, state: RunState, train_model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
               epoch: int, mon_train: Split | None, mon_val: Split | None) -> dict:
    """Train one epoch, step the schedule, and measure the monitor digits: the epoch's row of metrics.csv."""
    t0 = time.time()
    train_loss = train_epoch(train_model, state.defense, state.optimizer, run.tc, x_train, y_train, epoch, run.ctx,
                             run.amp_dtype, run.where, run.progress)
    lr = state.optimizer.param_groups[0]["lr"]
    state.scheduler.step()
    row = {"epoch": epoch + 1, "lr": lr, "eps_scale": state.defense.eps_scale,
           "train_loss": round(train_loss, 5), "seconds": round(time.time() - t0, 2)}
    if mon_train is not None and run.ctx.is_main:
        tr_nat, tr_rob = _monitor(state.model, mon_train, state.ball, run.tc, run.device)
        row.update(train_natural=tr_nat, train_robust=tr_rob)
        if mon_val is not None:
            va_nat, va_rob = _monitor(state.model, mon_val, state.ball, run.tc, run.device)
            row.update(val_natural=va_nat, val_robust=va_rob)
    return row


def _save(run: Run, state: RunState, epoch: int, row: dict, rngs: list, has_validation: bool) -> None:
    """checkpoint.pt every epoch, best.pt when the robust validation accuracy improved, metrics.csv; one log line."""
    is_best = "val_robust" in row and row["val_robust"] > state.best_rob
    if is_best:
        state.best_rob = row["val_robust"]
    spec, exp = run.spec, run.exp
    saved = {"model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
             "scheduler": state.scheduler.state_dict(), "defense": state.defense.state_dict(), "epoch": epoch,
             "history": state.history, "best_rob": state.best_rob, "rng": rngs[0], "fingerprint": spec.fingerprint(),
             "spec": {"profile": spec.profile, "experiment": run.experiment, "defense": run.defense_name,
                      "model": exp.model, "num_classes": state.num_classes, "config": exp.model_dump(mode="json")}}
    if run.ctx.enabled:
        saved["rng_ranks"] = rngs
    if state.init_record is not None:
        saved["init_from"] = state.init_record
    best = run.out_dir / checkpoint.CHECKPOINT_FILES["best"]
    if not has_validation:  # nothing to select on: best.pt is the last epoch, and says so
        checkpoint.save(checkpoint.model_only(saved, "last epoch (no validation split)"), best)
    elif is_best or not best.exists():
        checkpoint.save(checkpoint.model_only(saved, "best robust validation accuracy"), best)
    checkpoint.save(checkpoint.model_only(saved, "last epoch"), run.out_dir / checkpoint.CHECKPOINT_FILES["last"])
    checkpoint.save(saved, run.checkpoint_path)
    write_metrics_csv(state.history, run.out_dir / "metrics.csv")
    run.log(f"{run.where} epoch {epoch + 1}/{run.tc.epochs}: " +
            ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "epoch"))


def _write_run_json(profile, experiment, defense_name, data, out_dir, device, tc, dcfg, spec, history, stop,
                    init_record, amp_dtype, ctx, seconds) -> None:
    write_metrics_csv(history, out_dir / "metrics.csv")
    rob = [h.get("val_robust", -1.0) for h in history]
    stopped = {"reason": "early_stopping" if stop else "epochs_completed", "detail": stop or
               f"trained {len(history)} of {tc.epochs} epochs", "epochs_trained": len(history),
               "best_epoch": (max(range(len(rob)), key=rob.__getitem__) + 1) if history and max(rob) >= 0 else None}
    checkpoint.write_json({
        "profile": profile.profile, "experiment": experiment, "defense": defense_name, "seed": tc.seed,
        "git_commit": checkpoint.git_commit(), "device": str(device), "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "data": data.info, "validation": {"n": len(data.val) if data.val is not None else 0,
                                          "seed": data.info.get("val_seed"),
                                          "monitored": min(tc.monitor_examples, len(data.val)) if data.val else 0,
                                          "monitor_seed": MONITOR_SEED},
        "epochs": tc.epochs, "stopped": stopped, "seconds_this_session": round(seconds, 1),
        "seconds_per_epoch": [h["seconds"] for h in history], "fingerprint": spec.fingerprint(),
        "init_from": init_record, "world_size": ctx.world_size, "amp": str(amp_dtype or torch.float32),
        "defense_config": dcfg.model_dump(mode="json"), "train_config": tc.model_dump(mode="json"),
    }, out_dir / "run.json")
