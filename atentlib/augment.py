"""Training-batch augmentation as batched tensor ops on the batch's own device (no data loader, no host round trip).

`crop_flip` is the standard CIFAR augmentation (torchvision RandomCrop(32, padding=4) + RandomHorizontalFlip):
each image is zero-padded by `pad` pixels, a window of its original size is cut at a random offset, and the
image is mirrored left-right with probability 1/2. The random draws come from the global RNG of the batch's
device (torch.randint / torch.rand, no torch.Generator), so the engine's saved RNG states cover them and a
resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

AUGMENTS = ("none", "crop_flip")


def random_crop(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Per-image random crop of x [N, C, H, W] after zero-padding by `pad` (same shape and range as x)."""
    n, c, h, w = x.shape
    if pad == 0 or n == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), device=x.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # [N, H]
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # [N, W]
    padded = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
    return padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image of x [N, C, H, W] left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def apply(kind: str, x: torch.Tensor) -> torch.Tensor:
    """The augmentation `kind` (TrainConfig.augment) of a training batch."""
    if kind == "none":
        return x
    if kind == "crop_flip":
        out = random_flip(random_crop(x, 4))
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    raise ValueError(f"unknown augmentation {kind!r}: allowed {', '.join(AUGMENTS)}")
