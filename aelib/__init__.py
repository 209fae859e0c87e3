"""aelib: the helpers that the autoencoder notebooks share.

Submodules load on first use, so ``import aelib`` costs little more than ``import torch``:
``aelib.data``, ``aelib.models``, ``aelib.losses``, ``aelib.train``, ``aelib.cache``,
``aelib.plots``. Settings (``AELIB_*`` environment variables) are read by ``aelib.settings``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .runtime import get_device, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["setup", "get_device", "seed_everything", "load_dataset", "fit", "fit_gan",
           "train_or_load", "save_checkpoint", "load_checkpoint"]  # fmt: skip

_SUBMODULES = {
    "data", "models", "losses", "train", "cache", "plots", "widgets", "figures", "exercises",
    "zoo", "checks", "settings", "files", "quality", "likelihood",
}
_SHORTCUTS = {
    "load_dataset": "data", "Dataset": "data", "DataError": "data",
    "fit": "train", "fit_gan": "train", "History": "train", "NonFiniteLossError": "train",
    "train_or_load": "cache", "save_checkpoint": "cache", "load_checkpoint": "cache",
    "CheckpointError": "cache", "SettingsError": "settings",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _SHORTCUTS:
        return getattr(importlib.import_module(f".{_SHORTCUTS[name]}", __name__), name)
    raise AttributeError(f"module 'aelib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_SHORTCUTS))
