"""The notebooks' setup cell: seeds, plot defaults, threads and the device (every notebook)."""

from __future__ import annotations

import os
import random

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """cuda if available, else mps (Apple), else cpu; ``AELIB_DEVICE`` or ``prefer`` overrides."""
    choice = prefer or os.environ.get("AELIB_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_of(module: object) -> torch.device:
    """The device of a module's parameters (cpu for plain functions or parameter-free modules)."""
    params = getattr(module, "parameters", None)
    p = next(params(), None) if callable(params) else None
    return p.device if p is not None else torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0, plots: bool = True, flush_denormal: bool = True) -> torch.device:
    """Seed everything, flush denormal floats, set plot defaults, return the device to train on.

    Call it before other torch work: worker threads that started earlier may keep the
    CPU's default denormal handling.
    """
    seed_everything(seed)
    # Adam's running mean of a gradient that stays exactly 0 (a dead ReLU, a pixel that is
    # always black) decays by 0.9 per step into the denormal range (< 1.2e-38), where CPU
    # arithmetic is ten times slower: the AE's epochs after the first take about 20% longer
    # (benchmarks/denormals.py). Rounding such values to 0 changes nothing else.
    torch.set_flush_denormal(flush_denormal)
    if plots:
        import matplotlib as mpl

        mpl.rcParams.update({
            "figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (6, 4),
            "axes.grid": False, "image.cmap": "gray", "font.size": 10,
            "axes.spines.top": False, "axes.spines.right": False,
            "svg.hashsalt": "aelib",  # reproducible figure files
        })  # fmt: skip
    return get_device()
