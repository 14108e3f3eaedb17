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


# ----------------------------------------------------------------------------- CIFAR-10 (3x32x32 inputs)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def _cifar_input(normalize: bool) -> nn.Module:
    return Normalize(CIFAR10_MEAN, CIFAR10_STD) if normalize else nn.Identity()


def _conv3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Post-activation residual block (He et al. 2016): conv-bn-relu-conv-bn, + shortcut, relu.
    shortcut "A": identity with stride-2 subsampling and zero-padded channels (CIFAR ResNet-20, 0.27M);
    shortcut "B": 1x1 conv + bn projection (ResNet-18)."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str):
        super().__init__()
        self.conv1, self.bn1 = _conv3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        self.pad = 0
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.shortcut = nn.AvgPool2d(1, stride=stride)  # picks every stride-th pixel
                self.pad = cout - cin
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        s = self.shortcut(x)
        if self.pad:
            s = nn.functional.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return torch.relu(out + s)


class ResNet(nn.Module):
    """CIFAR ResNets. ResNet-20: widths 16-32-64, 3 blocks per stage, shortcut A (0.27M parameters);
    ResNet-18: widths 64-128-256-512, 2 blocks per stage, shortcut B, 3x3 stem without max-pool (11.2M)."""

    def __init__(self, widths: Sequence[int], blocks: Sequence[int], shortcut: str, num_classes: int = 10,
                 normalize: bool = True):
        super().__init__()
        layers: list[nn.Module] = [_cifar_input(normalize), _conv3(3, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU()]
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1, shortcut))
                cin = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def resnet20(num_classes: int = 10, normalize: bool = True) -> ResNet:
    return ResNet((16, 32, 64), (3, 3, 3), "A", num_classes, normalize)


def resnet18(num_classes: int = 10, normalize: bool = True) -> ResNet:
    return ResNet((64, 128, 256, 512), (2, 2, 2, 2), "B", num_classes, normalize)


class WideBlock(nn.Module):
    """Pre-activation wide block (Zagoruyko & Komodakis): bn-relu-conv-bn-relu-conv, 1x1 conv shortcut on change."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), _conv3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), _conv3(cout, cout)
        self.equal = cin == cout and stride == 1
        self.shortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        out = self.conv2(torch.relu(self.bn2(self.conv1(o))))
        return out + (x if self.equal else self.shortcut(o))


class WideResNet(nn.Module):
    """WRN-depth-width for CIFAR (as in TRADES/MART): (depth - 4) / 6 blocks per stage, widths 16, 16k, 32k, 64k.
    WRN-34-10: 46.2M parameters; WRN-28-4: 5.8M."""

    def __init__(self, depth: int = 34, width: int = 10, num_classes: int = 10, normalize: bool = True):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        layers: list[nn.Module] = [_cifar_input(normalize), _conv3(3, widths[0])]
        cin = widths[0]
        for i, w in enumerate(widths[1:]):
            for j in range(n):
                layers.append(WideBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class VGG(nn.Module):
    """CIFAR VGG with batch norm; VGG-11 = config A (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    one linear layer 512 -> classes (9.2M parameters)."""

    CFG_11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")

    def __init__(self, cfg: Sequence = CFG_11, num_classes: int = 10, normalize: bool = True):
        super().__init__()
        layers: list[nn.Module] = [_cifar_input(normalize)]
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def wrn34_10(num_classes: int = 10, normalize: bool = True) -> WideResNet:
    return WideResNet(34, 10, num_classes, normalize)


def wrn28_4(num_classes: int = 10, normalize: bool = True) -> WideResNet:
    return WideResNet(28, 4, num_classes, normalize)


def vgg11(num_classes: int = 10, normalize: bool = True) -> VGG:
    return VGG(VGG.CFG_11, num_classes, normalize)


REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "smallcnn": SmallCNN, "lenet5": LeNet5, "mlp": MLP,  # MNIST, 1x28x28
    "resnet20": resnet20, "resnet18": resnet18, "vgg11": vgg11,  # CIFAR-10, 3x32x32
    "wrn": WideResNet, "wrn34_10": wrn34_10, "wrn28_4": wrn28_4,
}


def build(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """A fresh model by name; unknown names raise a ValueError listing the allowed ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}: allowed models are {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](num_classes=num_classes, **kwargs)


def use_channels_last(device: torch.device | str, wanted: bool = True) -> bool:
    """Whether the engine puts models in channels_last on this device (CUDA and CPU; speed only)."""
    return wanted and torch.device(device).type in ("cuda", "cpu")
