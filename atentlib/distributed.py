"""Data-parallel training on several processes (one per GPU) launched by torchrun.

    torchrun --nproc_per_node=4 -m atentlib train --profile paper --experiment cifar_linf --defense atent_linf

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; with WORLD_SIZE > 1 the engine joins
the process group (nccl on CUDA, gloo on CPU), every rank trains on its shard of each batch, and only rank 0
writes files. All ranks draw the same data order (seeded by seed and epoch), so the shards of a batch partition it.

Gradients are averaged the way DistributedDataParallel averages them (a weighted all-reduce of .grad, rank 0's
buffers broadcast before each step, as DDP's broadcast_buffers does), but once per step after the defense's
backward rather than in DDP's autograd hooks: the defenses do not fit DDP's one-forward-one-backward contract
(ATENT and Entropy-SGD compute weight-gradients with torch.autograd.grad and add them to .grad themselves, which
DDP's hooks never see; MMA calls backward twice per step; every attack runs many forward passes per step).
Each rank's gradient is weighted by its share of the batch, so a step equals one process's step on the whole
batch for any per-example-mean loss, also when the batch does not divide evenly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .defenses import DEFENSES

@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this Context initialised the process group (and closes it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str = "auto") -> Context:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl where CUDA is used, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), local_rank, owns_group=False)
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo")  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    return Context(rank, world, local_rank, owns_group=True)


def close(ctx: Context) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def local_device(ctx: Context, device: torch.device) -> torch.device:
    """cuda:LOCAL_RANK for a CUDA device under torchrun; the device itself otherwise."""
    if ctx.enabled and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def check_supported(ctx: Context, kind: str) -> None:
    """Refuse, under torchrun, a defense whose state is per rank and not merged across ranks (its plugin says why)."""
    why = DEFENSES.get(kind).distributed_unsupported
    if ctx.enabled and why is not None:
        raise RuntimeError(f"defense {kind!r} cannot be trained on several processes: {why}; "
                           f"run it with one process (WORLD_SIZE=1)")


def shard(ctx: Context, index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous part of a batch's indices (sizes differ by at most one)."""
    return index.tensor_split(ctx.world_size)[ctx.rank] if ctx.enabled else index


@torch.no_grad()
def broadcast_module(ctx: Context, module: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank."""
    if ctx.enabled:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


@torch.no_grad()
def broadcast_buffers(ctx: Context, module: nn.Module) -> None:
    """Rank 0's buffers (batch-norm statistics) on every rank, as DDP does before each forward."""
    if ctx.enabled:
        for t in module.buffers():
            dist.broadcast(t.data, src=0)


@torch.no_grad()
def average_gradients(ctx: Context, params: list[torch.Tensor], weight: float) -> None:
    """.grad <- sum over ranks of weight_r * .grad_r (weight_r: the rank's share of the batch), in one all-reduce."""
    if not ctx.enabled:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params]) * weight
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def all_reduce_(ctx: Context, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place sum (or min) over ranks; the tensor itself without torchrun."""
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.MIN if op == "min" else dist.ReduceOp.SUM)
    return tensor


def broadcast_object(ctx: Context, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (picklable objects)."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(ctx: Context, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank ([obj] without torchrun)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
