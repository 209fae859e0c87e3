"""Datasets as in-memory tensors, resolved offline-first (introduced in 01_dimension_reduction).

Resolution order for ``fashion-mnist`` and ``mnist``:

1. a shared read-only data folder (``AELIB_SHARED_DATA``) that holds the raw files: read
   in place, never written;
2. the data folder (``AELIB_DATA_DIR``; default ``data/`` in a checkout of the repository,
   else the per-user data folder, ``~/.local/share/aelib`` on Linux) already holds them;
3. a system copy (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``), decompressed
   into the data folder;
4. a download (torchvision's mirrors, or ``AELIB_DATA_MIRROR``), each connection given up
   after ``AELIB_DOWNLOAD_TIMEOUT`` seconds without an answer (default 10);
5. the offline fallback ``digits`` (scikit-learn's 8x8 digits upsampled to 28x28), with a
   notice that says what failed. ``AELIB_STRICT_DATA=1`` makes that an error instead.

Routine steps are logged at INFO (``aelib.setup(verbose=True)`` shows them); the download
and the fallback are notices (WARNING), shown by default. A folder that cannot be written
(read-only, full, a file in its place) is a ``DataError`` that names it and the cause.
``AELIB_DATASET`` picks the dataset when ``load_dataset`` is called without a name.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import socket
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from . import settings as _settings
from .files import atomic_write, why
from .settings import DATASETS, REPO_ROOT

DEFAULT_DATASET = "fashion-mnist"
log = logging.getLogger("aelib.data")

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
# torchvision's mirrors and MD5 sums (torchvision 0.29), kept here so that a download
# attempt does not import torchvision: with no network the fallback comes 1-2 s sooner
_MIRRORS = {
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
}
_RESOURCES = {
    "fashion-mnist": [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ],
    "mnist": [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ],
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


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) the raw files: ``root``, ``AELIB_DATA_DIR`` or default.

    The default is ``data/`` in a checkout of the repository, else the per-user data folder
    (platformdirs; ``~/.local/share/aelib`` on Linux): never inside an installed package.
    """
    if root is not None:
        return Path(root).expanduser()
    return _settings.current().data_dir or _settings.default_data_dir()


def _system_dirs(name: str) -> list[Path]:
    override = _settings.current().system_data_dirs
    if override is not None:  # tests and unusual installs; empty string means "none"
        return list(override)
    return [Path(p) for p in _IDX[name][1]]


def _unwritable(folder: Path, exc: OSError) -> DataError:
    return DataError(
        f"Cannot write the data folder {folder}: {why(exc)}. Set AELIB_DATA_DIR to a folder "
        "you can write, or AELIB_SHARED_DATA to a folder that already holds the raw files."
    )


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


class _SourceError(Exception):
    """Reading the compressed source failed (not writing the target)."""


def _decompress_into(source: Path, target: Path, what: str = "system copy") -> None:
    """Decompress a .gz file atomically: a half-written file never has the final name."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(target.parent, exc) from None

    def write(dst) -> None:
        try:
            src = gzip.open(source, "rb")
        except OSError as exc:
            raise _SourceError(why(exc)) from None
        with src:
            while True:
                try:
                    chunk = src.read(1 << 20)
                except (OSError, EOFError, zlib.error) as exc:
                    raise _SourceError(f"{type(exc).__name__}: {exc}") from None
                if not chunk:
                    break
                dst.write(chunk)  # an OSError here is the target's (a full disk)

    try:
        atomic_write(target, write)
    except _SourceError as exc:
        fix = ("The system copy is damaged: reinstall it (apt-get install --reinstall "
               "dataset-fashion-mnist)." if what == "system copy" else
               "The downloaded file is damaged: run again to download it again.")  # fmt: skip
        raise DataError(f"Cannot decompress {source}: {exc}. {fix}") from None
    except OSError as exc:
        raise DataError(
            f"Cannot write {target}: {why(exc)}. Free some space, or set AELIB_DATA_DIR to "
            "another folder."
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


_USER_AGENT = "aelib (torchvision's dataset mirrors)"


class _DownloadFailed(Exception):
    """Every mirror failed for one file; the message lists each URL with its cause."""


def _describe_download_error(exc: BaseException, timeout: float) -> str:
    """The real cause of a failed download, in words (the whole message, not its first line)."""
    reason: object = exc
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{type(exc).__name__}: no answer within {timeout:g} s (AELIB_DOWNLOAD_TIMEOUT)"
    if isinstance(reason, socket.gaierror):
        return (f"{type(exc).__name__}: the host name cannot be resolved ({reason.strerror}): "
                "no network?")  # fmt: skip
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTPError: HTTP {exc.code} {exc.reason}"
    text = " / ".join(line.strip() for line in str(reason).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fetch(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Download ``url`` to ``dest``; every connect and read gives up after ``timeout`` s."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest, size = hashlib.md5(usedforsecurity=False), 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as f:
        expected = response.headers.get("Content-Length")
        while chunk := response.read(1 << 16):
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    if expected is not None and size != int(expected):
        raise ConnectionError(f"the connection closed after {size:,} of {int(expected):,} bytes")
    if digest.hexdigest() != md5:
        raise ValueError(f"the file's MD5 checksum is {digest.hexdigest()}, expected {md5}")


def _download(name: str, root: Path, raw: Path) -> None:
    """Fetch the missing .gz files into a scratch folder, then decompress them into ``raw``.

    All or nothing: the scratch folder (and any partial file in it) is removed whatever
    happens, and a raw file appears only when every download succeeded.
    """
    config = _settings.current()
    mirrors = list(config.data_mirrors) or _MIRRORS[name]
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch_dir = tempfile.TemporaryDirectory(dir=root, prefix=".download-")
    except OSError as exc:
        raise _unwritable(root, exc) from None
    with scratch_dir as scratch:
        fetched = []
        for gz_name, md5 in _RESOURCES[name]:
            raw_name = gz_name.removesuffix(".gz")
            if (raw / raw_name).exists():
                continue
            errors = []
            for mirror in mirrors:
                try:
                    _fetch(f"{mirror}{gz_name}", Path(scratch) / gz_name, md5,
                           config.download_timeout)  # fmt: skip
                    break
                except (OSError, ValueError, urllib.error.URLError) as exc:
                    errors.append(f"{mirror}{gz_name}: "
                                  f"{_describe_download_error(exc, config.download_timeout)}")
            else:
                raise _DownloadFailed("; ".join(errors))
            fetched.append((Path(scratch) / gz_name, raw / raw_name))
        for source, target in fetched:
            _decompress_into(source, target, what="download")


def _read_idx_file(path: Path, raw_name: str) -> torch.Tensor:
    """The array of one checked idx file: uint8 images (N, 28, 28) or int64 labels (N,)."""
    import numpy as np

    _, ndim = _FILES[raw_name]
    data = path.read_bytes()
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    tensor = torch.from_numpy(array.copy())
    return tensor if ndim == 3 else tensor.long()


def _read_idx(name: str, root: Path) -> tuple[torch.Tensor, ...]:
    """Parse the four idx files with NumPy, after our header checks (no torchvision import:
    that alone took 2.5 s of every notebook's setup cell)."""
    raw = root / _IDX[name][0] / "raw"
    for raw_name in _FILES:
        check_idx_file(raw / raw_name, raw_name)
    parts = {raw_name: _read_idx_file(raw / raw_name, raw_name) for raw_name in _FILES}
    for split in ("train", "t10k"):
        images, labels = parts[f"{split}-images-idx3-ubyte"], parts[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise DataError(
                f"{raw / f'{split}-images-idx3-ubyte'} holds {len(images)} images but "
                f"{raw / f'{split}-labels-idx1-ubyte'} holds {len(labels)} labels: the "
                "two files come from different copies. Replace both with a matching pair."
            )
    return (parts["train-images-idx3-ubyte"], parts["train-labels-idx1-ubyte"],
            parts["t10k-images-idx3-ubyte"], parts["t10k-labels-idx1-ubyte"])


def _to_float(images: torch.Tensor) -> torch.Tensor:
    # uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], once, so batches are views
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def _from_shared(name: str) -> tuple[Path, Path] | None:
    """(root, raw folder) of the first shared read-only folder that holds all raw files."""
    for root in _settings.current().shared_data:
        raw = root / _IDX[name][0] / "raw"
        present, missing = _raw_status(raw)
        if not missing:
            return root, raw
        if present:
            log.info("%s: the shared folder %s lacks %s; not using it", name, raw,
                     ", ".join(missing))  # fmt: skip
    return None


def _load_idx(name: str, root: Path) -> Dataset:
    folder = _IDX[name][0]
    raw = root / folder / "raw"
    shared = _from_shared(name)
    present, missing = _raw_status(raw)
    if shared is not None:
        root, raw = shared
        where = f"{raw} (shared folder, read in place)"
        log.info("%s: reading the shared copy in %s", name, raw)
    elif not missing:
        where = f"{shown(raw)} (already in the data folder)"
        log.info("%s: found the raw files in %s", name, shown(raw))
    else:
        if present:
            log.info("%s: %s lacks %s; looking for the rest elsewhere", name, shown(raw),
                     ", ".join(missing))  # fmt: skip
        failures = []
        where = None
        system = _from_system_copy(name, raw)
        if system:
            where = f"{system} (system copy, decompressed to {shown(raw)})"
            log.info("%s: using the system copy in %s, decompressed to %s", name, system,
                     shown(raw))  # fmt: skip
        else:
            dirs = ", ".join(map(str, _system_dirs(name))) or "none configured"
            failures.append(f"no system copy ({dirs})")
            if _settings.current().offline:
                failures.append("download skipped (AELIB_OFFLINE is set)")
            else:
                log.info("%s: no local copy; downloading it once into %s", name, shown(root))
                try:
                    _download(name, root, raw)
                    where = f"{shown(raw)} (downloaded)"
                except DataError:  # a folder we cannot write: the user must act
                    raise
                except _DownloadFailed as exc:
                    failures.append(f"download failed: {exc}")
                except Exception as exc:  # noqa: BLE001 - any download failure means offline
                    cause = _describe_download_error(exc, _settings.current().download_timeout)
                    failures.append(f"download failed ({cause})")
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
    reasons = "; ".join(failures)
    if _settings.current().strict_data:
        raise DataError(f"{name} is not available: {reasons}. {fix} (AELIB_STRICT_DATA is set.)")
    log.warning("NOTICE: %s is not available (%s); using the 'digits' fallback. %s", name,
                reasons, fix)  # fmt: skip
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
    if name is not None and not isinstance(name, str):
        raise TypeError(f"load_dataset: name must be a string, got {type(name).__name__}.")
    name = (name or _settings.current().dataset or DEFAULT_DATASET).lower().strip()
    if name not in DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Choose one of {', '.join(DATASETS)} "
            "(argument `name` or the environment variable AELIB_DATASET)."
        )
    if name == "digits":
        return load_digits()
    return _load_idx(name, data_dir(root))
