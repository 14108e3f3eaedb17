"""Architectures of the papers (supplement A.1). Every model takes inputs in [0, 1]; any normalisation
lives inside the model, so attacks and certificates always work in pixel space."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """(x - mean) / std per channel, as the model's first layer."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class SmallCNN(nn.Module):
    """MNIST-linf model of TRADES/ATENT: conv32-conv32-pool-conv64-conv64-pool, fc 1024-200-200-10, dropout."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 4 * 4, 200), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """MNIST-l2 model (advertorch's LeNet5): conv32 5x5-pool-conv64 5x5-pool-fc 3136-1024-10."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLP(nn.Module):
    """The 3-layer fully connected net of Figure 1 (t-SNE of decision boundaries)."""

    def __init__(self, num_classes: int = 10, in_features: int = 784, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


REGISTRY: dict[str, Callable[..., nn.Module]] = {"smallcnn": SmallCNN, "lenet5": LeNet5, "mlp": MLP}


def build(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """A fresh model by name; unknown names raise a ValueError listing the allowed ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: allowed models are {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](num_classes=num_classes, **kwargs)
