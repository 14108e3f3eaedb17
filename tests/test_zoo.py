"""The model zoo: an exported run loads back as the same eval-mode model; a damaged file or an unknown name is
refused with a message that says what to do."""
from __future__ import annotations

import shutil

import pytest
import torch

from atentlib import zoo
from atentlib.checkpoint import load_model


def test_exported_model_loads_back_with_the_same_outputs(smoke_runs, tmp_path):
    run = smoke_runs / "smoke" / "mnist_linf" / "atent_linf"
    accs = {"pgd20": {"accuracy": 12.5, "n_examples": 40}}
    entry = zoo.export(run, "mnist_linf-atent_linf", tmp_path, accuracies=accs)
    assert entry["model"] == "smallcnn" and entry["accuracies"] == accs
    model = zoo.load("mnist_linf-atent_linf", zoo_dir=tmp_path)
    reference, _ = load_model(run / "last.pt", channels_last=False)
    x = torch.rand(5, 1, 28, 28)
    assert not model.training
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-6)
    assert set(zoo.index(tmp_path)) == {"mnist_linf-atent_linf"}


def test_a_damaged_or_unknown_model_is_refused(smoke_runs, tmp_path):
    run = tmp_path / "run"  # a copy: the smoke runs are shared with other tests
    shutil.copytree(smoke_runs / "smoke" / "mnist_l2" / "pgd_at", run)
    zoo_dir = tmp_path / "zoo"
    zoo.export(run, "mnist_l2-pgd_at", zoo_dir)
    assert zoo.index(zoo_dir)["mnist_l2-pgd_at"]["file"] == "../run/last.pt"  # the run's own file, no copy
    path = run / "last.pt"
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(zoo.ZooError, match="does not match"):
        zoo.load("mnist_l2-pgd_at", zoo_dir=zoo_dir)
    with pytest.raises(zoo.ZooError, match="unknown zoo model 'nope': available are mnist_l2-pgd_at"):
        zoo.load("nope", zoo_dir=zoo_dir)


def test_the_listing_names_each_model_with_its_checksum_and_accuracies(smoke_runs, tmp_path):
    run = smoke_runs / "smoke" / "mnist_linf" / "pgd_at"
    entry = zoo.export(run, "mnist_linf-pgd_at", tmp_path,
                       accuracies={"natural": {"accuracy": 97.25, "n_examples": 2000},
                                   "autoattack": {"accuracy": 88.7, "n_examples": 1000}})
    path = zoo.write_listing(tmp_path)
    row = next(line for line in path.read_text().splitlines() if line.startswith("| `mnist_linf-pgd_at`"))
    assert entry["sha256"] in row and "natural 97.25 (2000); autoattack 88.70 (1000)" in row
    assert "| linf 0.3 |" in row or f"| linf {entry['threat']['eps']} |" in row
