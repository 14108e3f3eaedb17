"""The training engine: one loop for every defense, with checkpoints, resume, and per-epoch curves.

`fit` trains one (experiment, defense) of a profile into a run folder:
  checkpoint.pt (+ .sha256)  the last epoch: model, optimiser, scheduler, RNG states, history, config
  best.pt (+ .sha256)        the epoch with the best robust accuracy on the monitor examples
  metrics.csv                one row per epoch: loss, natural and robust accuracy on train and test (Figure S1)
  run.json                   profile, seed, git commit, data used, device, timings
A run killed at any point resumes from its last finished epoch and ends with the same numbers as an
uninterrupted one: the data order is drawn from (seed, epoch), and the RNG states travel in the checkpoint.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint, defenses, models
from .attacks.pgd import pgd
from .config import ExperimentConfig, Profile, TrainConfig
from .data import DataBundle, Split, atomic_write_bytes
from .threat import Ball, model_mode


class TrainingError(RuntimeError):
    """Training diverged (NaN/inf loss) or cannot continue."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash decides whether a checkpoint may be resumed."""

    profile: str
    experiment: str
    defense: str
    exp: ExperimentConfig

    def fingerprint(self) -> str:
        exp = self.exp.model_dump(mode="json")
        exp["train"].pop("epochs")  # more epochs may be asked for later: the run resumes and goes on
        for d in exp["defenses"].values():
            d.get("train", {}).pop("epochs", None)
        payload = {"experiment": exp, "defense": self.defense}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def pick_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device: cuda was asked for but no CUDA device is available (allowed: auto, cpu, cuda)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    o = tc.optimizer
    if o.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                           nesterov=o.nesterov)


def eps_scale(tc: TrainConfig, epoch: int, batch: int, n_batches: int) -> float:
    """Linear warm-up of the threat radius over eps_warmup_epochs, per batch."""
    if tc.eps_warmup_epochs == 0:
        return 1.0
    return min(1.0, (epoch + (batch + 1) / n_batches) / tc.eps_warmup_epochs)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy (%) with the model in eval mode."""
    with model_mode(model, False):
        correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                      for i in range(0, len(y), batch_size))
    return 100.0 * correct / max(1, len(y))


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ball: Ball, steps: int,
                    step_size: float, restarts: int = 1, batch_size: int = 500, progress: bool = False,
                    desc: str = "PGD") -> float:
    """Accuracy (%) under PGD in `ball` (model in eval mode)."""
    correct = 0
    for i in tqdm(range(0, len(y), batch_size), desc=desc, disable=not progress, leave=False):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = pgd(model, xb, yb, ball, steps=steps, step_size=step_size, restarts=restarts)
        with torch.no_grad(), model_mode(model, False):
            correct += (model(x_adv).argmax(1) == yb).sum().item()
    return 100.0 * correct / max(1, len(y))


def _monitor(model: nn.Module, split: Split, n: int, ball: Ball, tc: TrainConfig, device) -> tuple[float, float]:
    x, y = split.x[:n].to(device), split.y[:n].to(device)
    nat = accuracy(model, x, y)
    rob = robust_accuracy(model, x, y, ball, tc.monitor_pgd_steps, 2.5 * ball.eps / tc.monitor_pgd_steps)
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


def fit(profile: Profile, experiment: str, defense_name: str, data: DataBundle, out_dir: Path,
        device: torch.device | None = None, progress: bool = True, log=print) -> list[dict]:
    """Train (or resume) one run; returns the per-epoch history."""
    exp = profile.experiment(experiment)
    dcfg = exp.defense(defense_name)
    tc = exp.train_config(defense_name)
    spec = RunSpec(profile.profile, experiment, defense_name, exp)
    device = device or pick_device(profile.device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"

    torch.manual_seed(tc.seed)
    num_classes = int(data.train.y.max().item()) + 1
    model = models.build(exp.model, num_classes=num_classes).to(device)
    optimizer = make_optimizer(model, tc)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=tc.lr_milestones, gamma=tc.lr_decay)
    ball = Ball(exp.threat.norm, exp.threat.eps)
    defense = defenses.build(dcfg, ball, model_name=exp.model, num_classes=num_classes, optimizer=optimizer,
                             device=device)
    history: list[dict] = []
    best_rob, start_epoch = -1.0, 0

    if ckpt_path.exists():
        state = checkpoint.load(ckpt_path, map_location=device)
        if state.get("fingerprint") != spec.fingerprint():
            log(f"{ckpt_path}: its parameters differ from the profile's; starting a fresh run")
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            defense.load_state_dict(state["defense"])
            history, best_rob, start_epoch = state["history"], state["best_rob"], state["epoch"] + 1
            _set_rng_state(state["rng"])
            log(f"resuming {experiment}/{defense_name} from epoch {start_epoch} of {tc.epochs} ({ckpt_path})")

    x_train, y_train = data.train.x.to(device), data.train.y.to(device)
    n_batches = math.ceil(len(y_train) / tc.batch_size)
    t_run = time.time()
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.time()
        order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(tc.seed * 100_003 + epoch))
        model.train()
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        bar = tqdm(range(n_batches), desc=f"{defense_name} epoch {epoch + 1}/{tc.epochs}", disable=not progress,
                   leave=False)
        for b in bar:
            idx = order[b * tc.batch_size:(b + 1) * tc.batch_size].to(device)
            xb, yb = x_train[idx], y_train[idx]
            defense.set_eps_scale(eps_scale(tc, epoch, b, n_batches))
            optimizer.zero_grad(set_to_none=True)
            out = defense.backward(model, xb, yb, idx)
            if not torch.isfinite(out.loss):
                raise TrainingError(f"{experiment}/{defense_name}: loss is {out.loss.item()} at epoch {epoch + 1}, "
                                    f"batch {b + 1} of {n_batches}; lower the learning rate or check the data")
            if tc.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            loss_sum += out.loss * len(yb)
            seen += len(yb)
            if b % 10 == 0 or b == n_batches - 1:
                bar.set_postfix(loss=f"{(loss_sum / seen).item():.3f}")
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        train_seconds = time.time() - t0
        n_mon = min(tc.monitor_examples, len(data.test))
        row = {"epoch": epoch + 1, "lr": lr, "eps_scale": defense.eps_scale,
               "train_loss": round((loss_sum / max(1, seen)).item(), 5), "seconds": round(train_seconds, 2)}
        if n_mon > 0:
            te_nat, te_rob = _monitor(model, data.test, n_mon, ball, tc, device)
            tr_nat, tr_rob = _monitor(model, data.train, n_mon, ball, tc, device)
            row.update(train_natural=tr_nat, train_robust=tr_rob, test_natural=te_nat, test_robust=te_rob)
        history.append(row)
        is_best = n_mon > 0 and row["test_robust"] > best_rob
        if is_best:
            best_rob = row["test_robust"]
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "defense": defense.state_dict(), "epoch": epoch,
                 "history": history, "best_rob": best_rob, "rng": _rng_state(), "fingerprint": spec.fingerprint(),
                 "spec": {"profile": spec.profile, "experiment": experiment, "defense": defense_name,
                          "model": exp.model, "num_classes": num_classes,
                          "config": exp.model_dump(mode="json")}}
        if is_best or not (out_dir / "best.pt").exists():
            checkpoint.save({**state, "selected": "best robust monitor accuracy"}, out_dir / "best.pt")
        checkpoint.save(state, ckpt_path)
        write_metrics_csv(history, out_dir / "metrics.csv")
        log(f"{experiment}/{defense_name} epoch {epoch + 1}/{tc.epochs}: " +
            ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "epoch"))

    write_metrics_csv(history, out_dir / "metrics.csv")
    checkpoint.write_json({
        "profile": profile.profile, "experiment": experiment, "defense": defense_name, "seed": tc.seed,
        "git_commit": checkpoint.git_commit(), "device": str(device), "torch": torch.__version__,
        "data": data.info, "epochs": tc.epochs, "seconds_this_session": round(time.time() - t_run, 1),
        "seconds_per_epoch": [h["seconds"] for h in history], "fingerprint": spec.fingerprint(),
        "defense_config": dcfg.model_dump(mode="json"), "train_config": tc.model_dump(mode="json"),
    }, out_dir / "run.json")
    return history


def load_model(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """A trained model (eval mode) and its checkpoint's spec, from a verified checkpoint."""
    state = checkpoint.load(path, map_location=device)
    spec = state["spec"]
    model = models.build(spec["model"], num_classes=spec["num_classes"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, {**spec, "epoch": state["epoch"] + 1, "selected": state.get("selected", "last epoch")}
