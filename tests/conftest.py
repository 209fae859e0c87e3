"""Shared fixtures: idx files written by the tests themselves, isolated data and cache dirs."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the idx format (big-endian magic, then the dimensions)."""
    magic = (0x08 << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_idx_set(n_train: int = 24, n_test: int = 8, seed: int = 0) -> dict[str, bytes]:
    """Four small idx files with random images and labels, as torchvision names them."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": idx_bytes(rng.integers(0, 10, n_test)),
    }


def write_raw(folder: Path, files: dict[str, bytes], gz: bool = False) -> Path:
    """Write idx files (optionally gzipped, like the Debian copy) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Empty data and cache folders, no system copy, no download: fully offline."""
    monkeypatch.setenv("AELIB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AELIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", "")
    monkeypatch.setenv("AELIB_OFFLINE", "1")
    for var in ("AELIB_DATASET", "AELIB_STRICT_DATA", "AELIB_SHARED_DATA", "AELIB_SHARED_CACHE",
                "AELIB_DATA_MIRROR", "AELIB_DOWNLOAD_TIMEOUT", "AELIB_RETRAIN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def in_ci() -> bool:
    """True on CI, where nothing that the CI script installs may be skipped."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
