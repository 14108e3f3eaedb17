"""Tests for atentlib.models: output shapes, parameter counts against the published ones, normalisation inside."""
from __future__ import annotations

import typing

import pytest
import torch

from atentlib import models
from atentlib.config import ExperimentConfig

# published parameter counts (millions) and the tolerance allowed
CIFAR_MODELS = {
    "resnet20": (0.27, 0.02),  # He et al. 2016, Table 6
    "resnet18": (11.17, 0.1),  # CIFAR ResNet-18 (3x3 stem, no max-pool)
    "vgg11": (9.23, 0.1),  # VGG-11 with batch norm, one 512 -> 10 classifier
    "wrn28_4": (5.85, 0.05),  # Zagoruyko & Komodakis
    "wrn34_10": (46.16, 0.1),  # TRADES / MART / ATENT CIFAR-linf model
}


def n_params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.mark.parametrize("name", sorted(CIFAR_MODELS))
def test_cifar_models_shape_and_size(name):
    torch.manual_seed(0)
    model = models.build(name).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    expected, tol = CIFAR_MODELS[name]
    assert abs(n_params(model) - expected) <= tol, f"{name}: {n_params(model):.3f}M parameters"


def test_wrn_depth_width_kwargs():
    m = models.build("wrn", depth=16, width=1)
    with torch.no_grad():
        assert m.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        models.build("wrn", depth=30, width=1)


def test_cifar_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    m = models.build("resnet20").eval()
    first = m.features[0]
    assert isinstance(first, models.Normalize)
    assert torch.allclose(first.mean.flatten(), torch.tensor(models.CIFAR10_MEAN))
    assert torch.allclose(first.std.flatten(), torch.tensor(models.CIFAR10_STD))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        manual = m.features[1:]((x - first.mean) / first.std)
        assert torch.allclose(m(x), m.fc(manual), atol=1e-5)
    assert not isinstance(models.build("resnet20", normalize=False).features[0], models.Normalize)


def test_num_classes_and_mnist_models():
    assert models.build("vgg11", num_classes=7).eval()(torch.rand(1, 3, 32, 32)).shape == (1, 7)
    for name in ("smallcnn", "lenet5", "mlp"):
        assert models.build(name).eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_every_config_model_name_builds_and_unknown_names_fail():
    names = typing.get_args(ExperimentConfig.model_fields["model"].annotation)
    assert set(names) <= set(models.REGISTRY)
    with pytest.raises(ValueError, match="allowed models"):
        models.build("resnet1000")
