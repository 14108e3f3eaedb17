"""The GPU path on a real GPU: no host syncs per training step, bf16 + channels_last training end to end, the
epoch bench's record. Skipped without CUDA (CI has none); `bench/gpu_check.sh` runs them on a lent device."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from atentlib import defenses, distributed, models
from atentlib.config import (AtentL2Defense, AtentLinfDefense, OptimizerConfig, PgdAtDefense, TradesDefense,
                             TrainConfig)
from atentlib.threat import Ball
from atentlib.train import fit, make_optimizer, resolve_amp, train_epoch

from .conftest import small_smoke_profile

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.sh)")

ROOT = Path(__file__).resolve().parents[1]
BATCH = 16
STEP_DEFENSES = {  # Table S4's defenses, at a small K
    "atent_linf": (AtentLinfDefense(kind="atent_linf", K=3, step_size=0.007, radius=8 / 255), Ball("linf", 8 / 255)),
    "atent_l2": (AtentL2Defense(kind="atent_l2", K=3, step_size=0.5, gamma=0.08), Ball("l2", 1.0)),
    "pgd_at": (PgdAtDefense(kind="pgd_at", steps=3, step_size=0.007), Ball("linf", 8 / 255)),
    "trades": (TradesDefense(kind="trades", steps=3, step_size=0.007), Ball("linf", 8 / 255)),
}


def _syncs_in_one_epoch(model, defense, optimizer, tc: TrainConfig, n_batches: int) -> int:
    """Host-device synchronisations that torch's sync debug mode reports during one train_epoch of n_batches."""
    cuda = torch.device("cuda")
    x = torch.rand(BATCH * n_batches, 3, 32, 32, device=cuda).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH * n_batches,), device=cuda)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_epoch(model, defense, optimizer, tc, x, y, 0, distributed.Context(), resolve_amp("auto", cuda),
                        "gpu test", False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)


@pytest.mark.parametrize("name", list(STEP_DEFENSES))
def test_a_training_step_makes_no_host_sync(name):
    """The syncs of an epoch (its end-of-epoch loss, the non-finite check) must not grow with its number of steps."""
    cfg, ball = STEP_DEFENSES[name]
    torch.manual_seed(0)
    model = models.build("resnet20").to("cuda", memory_format=torch.channels_last)
    tc = TrainConfig(epochs=1, batch_size=BATCH, augment="crop_flip", amp="auto", monitor_examples=0,
                     nan_check_every=1000, optimizer=OptimizerConfig(name="sgd", lr=0.01, momentum=0.9))
    defense, optimizer = defenses.build(cfg, ball), make_optimizer(model, tc)
    _syncs_in_one_epoch(model, defense, optimizer, tc, 2)  # warm-up: cuDNN autotuning, optimiser state
    short, long = (_syncs_in_one_epoch(model, defense, optimizer, tc, n) for n in (2, 6))
    assert short == long, f"{name}: {short} syncs in 2 steps, {long} in 6: a training step syncs with the host"


def test_training_on_cuda_runs_bf16_channels_last_and_records_it(smoke_profile_path, tmp_path):
    prof, bundle = small_smoke_profile(smoke_profile_path, tmp_path, device="cuda", epochs=2, amp="auto")
    history = fit(prof, "mnist_linf", "atent_linf", bundle, tmp_path / "run", progress=False, log=lambda *_: None)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["device"].startswith("cuda") and run["amp"] == "torch.bfloat16"
    assert len(history) == 2 and all(math.isfinite(h["train_loss"]) for h in history)


def test_the_epoch_bench_records_the_gpu_and_its_peak_memory(tmp_path):
    out = tmp_path / "epoch.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "bench_epoch_time.py"), "--configs", "l2_resnet20",
                    "--defenses", "atent", "pgd_at", "--K", "2", "--attack-steps", "2", "--steps", "3", "--batch", "32",
                    "--warmup", "1", "--out", str(out)], check=True, cwd=ROOT)
    result = json.loads(out.read_text())
    assert result["device"] == "cuda" and result["device_name"] == torch.cuda.get_device_name()
    assert all(r["peak_memory_bytes"] > 0 and r["dtype"] == "bfloat16" for r in result["results"])
