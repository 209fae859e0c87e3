"""Datasets as in-memory tensors, resolved offline-first (introduced in 01_dimension_reduction).

Resolution order for ``fashion-mnist`` and ``mnist``, each step reported in one line:

1. ``AELIB_DATA_DIR`` (default: ``data/`` in the repository) already holds the raw files;
2. a system copy (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``), decompressed
   into the data directory;
3. torchvision's download;
4. the offline fallback ``digits`` (scikit-learn's 8x8 digits upsampled to 28x28), with a
   notice that says what failed. ``AELIB_STRICT_DATA=1`` makes that an error instead.

``AELIB_DATASET`` picks the dataset when ``load_dataset`` is called without a name.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

DATASETS = ("fashion-mnist", "mnist", "digits")
DEFAULT_DATASET = "fashion-mnist"
REPO_ROOT = Path(__file__).resolve().parents[1]

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
DIGIT_CLASSES = [str(i) for i in range(10)]

# torchvision's folder name and the system copies we know of, per dataset.
_IDX = {
    "fashion-mnist": ("FashionMNIST", ["/usr/share/datasets/fashion-mnist"]),
    "mnist": ("MNIST", ["/usr/share/datasets/mnist"]),
}
_FILES = {  # name -> (magic number, number of dimensions)
    "train-images-idx3-ubyte": (0x0803, 3),
    "train-labels-idx1-ubyte": (0x0801, 1),
    "t10k-images-idx3-ubyte": (0x0803, 3),
    "t10k-labels-idx1-ubyte": (0x0801, 1),
}


class DataError(RuntimeError):
    """A dataset file is missing, damaged or unreachable; the message says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """Train and test images as float32 tensors (N, 1, 28, 28) in [0, 1], with int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    source: str

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, classes={len(self.classes)})"
        )

    @property
    def fingerprint(self) -> str:
        """A short string that changes when the data changes (for checkpoint keys)."""
        crc = zlib.crc32(self.x_train[:: max(1, len(self.x_train) // 512)].numpy().tobytes())
        return f"{self.name}-{len(self.x_train)}-{len(self.x_test)}-{crc:08x}"


def shown(path: str | os.PathLike) -> str:
    """A path as users should see it: relative to the repository when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def _say(message: str) -> None:
    print(f"aelib.data: {message}", flush=True)


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) the raw files: ``root``, ``AELIB_DATA_DIR`` or data/."""
    return Path(root or os.environ.get("AELIB_DATA_DIR") or REPO_ROOT / "data")


def _system_dirs(name: str) -> list[Path]:
    override = os.environ.get("AELIB_SYSTEM_DATA_DIR")
    if override is not None:  # tests and unusual installs; empty string means "none"
        return [Path(p) for p in override.split(os.pathsep) if p]
    return [Path(p) for p in _IDX[name][1]]


def check_idx_file(path: Path, raw_name: str) -> None:
    """Raise DataError unless ``path`` is a complete idx file of the kind ``raw_name`` names."""
    magic, ndim = _FILES[raw_name]
    fix = (
        f"Delete {path} so that aelib fetches it again, or replace it with a good copy "
        "(Debian/Ubuntu: apt-get install dataset-fashion-mnist)."
    )
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(4 + 4 * ndim)
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror}. {fix}") from None
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated ({size} bytes, not even a header). {fix}")
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise DataError(
            f"{path} is not an idx {'image' if ndim == 3 else 'label'} file: magic number "
            f"0x{found:08x}, expected 0x{magic:08x}. {fix}"
        )
    dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = len(header) + int(torch.tensor(dims).prod())
    if ndim == 3 and dims[1:] != [28, 28]:
        raise DataError(f"{path} holds images of {dims[1:]} pixels, expected [28, 28]. {fix}")
    if size != expected:
        raise DataError(
            f"{path} is truncated or corrupt: {size} bytes, expected {expected} for shape "
            f"{dims}. {fix}"
        )


def _decompress_into(source: Path, target: Path) -> None:
    """Decompress a .gz file atomically: a half-written file never has the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with gzip.open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, target)
    except (OSError, EOFError, zlib.error) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(
            f"Cannot decompress {source}: {exc}. The system copy is damaged: reinstall it "
            "(apt-get install --reinstall dataset-fashion-mnist)."
        ) from None


def _raw_status(raw: Path) -> tuple[list[str], list[str]]:
    present = [n for n in _FILES if (raw / n).exists()]
    return present, [n for n in _FILES if n not in present]


def _from_system_copy(name: str, raw: Path) -> str | None:
    """Decompress the files that ``raw`` lacks from a system copy; return the copy's path."""
    for folder in _system_dirs(name):
        sources = {n: folder / f"{n}.gz" for n in _FILES}
        if not all(p.exists() for p in sources.values()):
            continue
        for raw_name, source in sources.items():
            if not (raw / raw_name).exists():
                _decompress_into(source, raw / raw_name)
        return str(folder)
    return None


def _download(name: str, root: Path, raw: Path) -> None:
    """torchvision's download into a scratch folder, moved into place only when complete."""
    from torchvision import datasets

    cls = getattr(datasets, _IDX[name][0])
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
        cls(scratch, train=True, download=True)
        got = Path(scratch) / _IDX[name][0] / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for raw_name in _FILES:
            if not (raw / raw_name).exists():
                os.replace(got / raw_name, raw / raw_name)


def _read_idx(name: str, root: Path) -> tuple[torch.Tensor, ...]:
    """Parse with torchvision's own dataset class, after our header checks."""
    import warnings

    from torchvision import datasets

    raw = root / _IDX[name][0] / "raw"
    for raw_name in _FILES:
        check_idx_file(raw / raw_name, raw_name)
    cls = getattr(datasets, _IDX[name][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test = cls(root, train=True), cls(root, train=False)
    for split, part in (("train", train), ("t10k", test)):
        if len(part.data) != len(part.targets):
            raise DataError(
                f"{raw / f'{split}-images-idx3-ubyte'} holds {len(part.data)} images but "
                f"{raw / f'{split}-labels-idx1-ubyte'} holds {len(part.targets)} labels: the "
                "two files come from different copies. Replace both with a matching pair."
            )
    return train.data, train.targets, test.data, test.targets


def _to_float(images: torch.Tensor) -> torch.Tensor:
    # uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], once, so batches are views
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def _load_idx(name: str, root: Path) -> Dataset:
    folder = _IDX[name][0]
    raw = root / folder / "raw"
    present, missing = _raw_status(raw)
    if not missing:
        where = f"{shown(raw)} (already in the data folder)"
        _say(f"{name}: found the raw files in {shown(raw)}")
    else:
        if present:
            _say(f"{name}: {shown(raw)} lacks {', '.join(missing)}; looking for the rest elsewhere")
        failures = []
        where = None
        system = _from_system_copy(name, raw)
        if system:
            where = f"{system} (system copy, decompressed to {shown(raw)})"
            _say(f"{name}: using the system copy in {system}, decompressed to {shown(raw)}")
        else:
            failures.append(f"no system copy in {', '.join(map(str, _system_dirs(name)))}")
            if os.environ.get("AELIB_OFFLINE") == "1":
                failures.append("download skipped (AELIB_OFFLINE=1)")
            else:
                _say(f"{name}: no local copy; downloading with torchvision into {shown(root)}")
                try:
                    _download(name, root, raw)
                    where = f"{shown(raw)} (downloaded by torchvision)"
                except Exception as exc:  # noqa: BLE001 - any download failure means offline
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    failures.append(f"download failed ({type(exc).__name__}: {reason})")
        if where is None:
            return _fallback(name, failures, raw)
    x_train, y_train, x_test, y_test = _read_idx(name, root)
    classes = FASHION_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES
    title = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
    return Dataset(
        name, _to_float(x_train), y_train, _to_float(x_test), y_test, list(classes),
        f"{title}: {len(x_train):,} train / {len(x_test):,} test images from {where}",
    )  # fmt: skip


def _fallback(name: str, failures: list[str], raw: Path) -> Dataset:
    fix = (
        f"To get {name}: install the system copy (apt-get install dataset-fashion-mnist), "
        f"put the four idx files in {shown(raw)}, or run once with network access."
    )
    why = "; ".join(failures)
    if os.environ.get("AELIB_STRICT_DATA") == "1":
        raise DataError(f"{name} is not available: {why}. {fix} (AELIB_STRICT_DATA=1 is set.)")
    _say(f"NOTICE: {name} is not available ({why}); using the 'digits' fallback. {fix}")
    return load_digits()


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits, upsampled to 28x28: always available offline."""
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    # (N, 1, 8, 8) -> (N, 1, 28, 28); a 2-pixel margin like MNIST's centred digits
    x = F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False)
    x = F.pad(x, (2, 2, 2, 2)).clamp_(0.0, 1.0)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        "digits", x[train], y[train], x[test], y[test], list(DIGIT_CLASSES),
        f"digits: {len(train):,} train / {len(test):,} test images "
        "(scikit-learn's 8x8 digits, upsampled to 28x28)",
    )  # fmt: skip


def load_dataset(name: str | None = None, root: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset as in-memory tensors (see the module docstring for the resolution order)."""
    name = (name or os.environ.get("AELIB_DATASET") or DEFAULT_DATASET).lower().strip()
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)} "
            "(argument `name` or the environment variable AELIB_DATASET)."
        )
    if name == "digits":
        return load_digits()
    return _load_idx(name, data_dir(root))
