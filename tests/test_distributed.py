"""Data-parallel training (atentlib.distributed) on the CPU with gloo: two processes, each with its half of a
batch, take the same optimiser step as one process with the whole batch; only rank 0 writes files."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from atentlib import checkpoint, data, distributed, models
from atentlib.config import load_profile
from atentlib.train import fit

N_TRAIN = 39  # odd: the two halves of the batch differ in size (20 and 19), so the gradient weighting matters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_step_profile(smoke_profile_path, tmp_path) -> Path:
    """One epoch, one batch (the whole training set), SGD on the dropout-free MLP, no monitor."""
    raw = yaml.safe_load(Path(smoke_profile_path).read_text())
    raw["data"]["mnist"].update(n_train=40, n_test=20)  # the stratified split keeps 4 per class: cut to N_TRAIN
    exp = raw["experiments"]["mnist_linf"]
    exp["model"] = "mlp"
    exp["train"].update(epochs=1, batch_size=N_TRAIN, optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.9},
                        eps_warmup_epochs=0, monitor_examples=0)
    path = tmp_path / "dist.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(profile_path: Path, out: Path) -> None:
    prof = load_profile(profile_path)
    cfg = prof.data["mnist"]
    bundle = data.load("mnist", cfg, Path(cfg.root))
    bundle = data.DataBundle(data.Split(bundle.train.x[:N_TRAIN], bundle.train.y[:N_TRAIN]), bundle.test, bundle.info)
    fit(prof, "mnist_linf", "sgd", bundle, out, progress=False, log=lambda *_: None)


def _worker(rank: int, world: int, port: int, profile_path: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    _run(Path(profile_path), Path(out))


def test_shards_partition_a_batch():
    idx = torch.arange(39)
    parts = [distributed.shard(distributed.Context(rank=r, world_size=2), idx) for r in range(2)]
    assert [len(p) for p in parts] == [20, 19] and torch.equal(torch.cat(parts), idx)
    assert distributed.shard(distributed.Context(), idx) is idx


def test_two_gloo_processes_take_the_step_of_one_process(smoke_profile_path, tmp_path, monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    profile_path = _one_step_profile(smoke_profile_path, tmp_path)
    _run(profile_path, tmp_path / "single")
    mp.spawn(_worker, args=(2, _free_port(), str(profile_path), str(tmp_path / "ddp")), nprocs=2, join=True)

    one = checkpoint.load(tmp_path / "single" / "checkpoint.pt")
    two = checkpoint.load(tmp_path / "ddp" / "checkpoint.pt")
    for k, v in one["model"].items():
        torch.testing.assert_close(two["model"][k], v, atol=1e-6, rtol=0)
    assert len(two["rng_ranks"]) == 2 and "rng_ranks" not in one
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["world_size"] == 2
    assert two["history"][0]["train_loss"] == pytest.approx(one["history"][0]["train_loss"], abs=1e-5)
    torch.manual_seed(0)  # the step moved the weights: the comparison is not between two initialisations
    init = models.build("mlp", num_classes=10).state_dict()
    assert min((one["model"][k] - init[k]).abs().max().item() for k in init) > 1e-4


def test_defenses_with_per_rank_state_are_refused():
    ctx = distributed.Context(rank=0, world_size=2)
    distributed.check_supported(ctx, "atent_linf")
    with pytest.raises(RuntimeError, match="cannot be trained on several processes"):
        distributed.check_supported(ctx, "mma")
    distributed.check_supported(distributed.Context(), "mma")
