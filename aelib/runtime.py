"""The notebooks' setup cell: seeds, plot defaults, the device and logging (every notebook).

aelib reports through the standard ``logging`` module, logger ``"aelib"``: notices that
need the reader (a fallback to another dataset, a model that could not be cached) at
WARNING, shown by default; routine steps (where the data came from, which checkpoint was
loaded) at INFO, shown after ``aelib.setup(verbose=True)`` or with ``AELIB_VERBOSE=1``.
"""

from __future__ import annotations

import logging
import random
import sys

import torch

from . import settings as _settings

log = logging.getLogger("aelib")


class _Stderr(logging.Handler):
    """Writes ``aelib.data: message`` to the sys.stderr of the moment (Jupyter swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.name}: {record.getMessage()}", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


_handler = _Stderr()
if not any(isinstance(h, _Stderr) for h in log.handlers):
    log.addHandler(_handler)


def set_verbose(verbose: bool) -> None:
    """Show aelib's routine INFO lines too (True), or only its notices (False)."""
    log.setLevel(logging.INFO if verbose else logging.WARNING)


try:  # AELIB_VERBOSE=1 shows the INFO lines from the start; a bad value fails where used
    set_verbose(_settings.current().verbose)
except _settings.SettingsError:
    set_verbose(False)


def _available() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(choice: str, source: str) -> torch.device:
    """``choice`` as a torch.device if this machine has it, else a ValueError naming ``source``."""
    try:
        device = torch.device(choice.strip().lower())
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"{source}={choice!r} is not a device name ({exc}). This machine has: "
            f"{', '.join(_available())}."
        ) from None
    kind = device.type
    backend = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None)}.get(
        kind, getattr(torch, kind, None)
    )
    ok = kind == "cpu" or bool(getattr(backend, "is_available", lambda: False)())
    if ok and kind == "cuda" and device.index is not None:
        ok = device.index < torch.cuda.device_count()
    if not ok:
        raise ValueError(
            f"{source}={choice!r}, but this machine has no {device} device. Use one of: "
            f"{', '.join(_available())}"
            + (", or unset AELIB_DEVICE for the best available." if source == "AELIB_DEVICE"
               else ".")  # fmt: skip
        )
    return device


def get_device(prefer: str | None = None) -> torch.device:
    """cuda if available, else mps (Apple), else cpu; ``AELIB_DEVICE`` or ``prefer`` overrides."""
    if prefer:
        return check_device(str(prefer), "prefer")
    choice = _settings.current().device
    if choice:
        return check_device(choice, "AELIB_DEVICE")
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


def setup(
    seed: int = 0, plots: bool = True, flush_denormal: bool = True, verbose: bool | None = None
) -> torch.device:
    """Seed everything, flush denormal floats, set plot defaults, return the device to train on.

    ``verbose=True`` shows aelib's routine log lines (default: ``AELIB_VERBOSE``, else off).
    Call it before other torch work: worker threads that started earlier may keep the
    CPU's default denormal handling.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"aelib.setup: seed must be an int, got {seed!r}.")
    config = _settings.current()
    set_verbose(config.verbose if verbose is None else bool(verbose))
    device = get_device()  # a bad AELIB_DEVICE fails here, before any work
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
    return device
