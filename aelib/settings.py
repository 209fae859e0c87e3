"""Every ``AELIB_*`` environment variable, parsed in one place (README, "Settings").

``current()`` parses them all and returns one frozen ``Settings``; the result is reused
until one of the variables changes, so every module reads the same values. A value that
cannot be understood raises ``SettingsError`` with a sentence that names the variable.
Booleans accept 1/0, true/false, yes/no and on/off in any case; an empty value counts as
unset. Paths expand ``~``. Where no variable is set, data and checkpoints live next to the
code in a checkout of the repository, and in per-user folders (platformdirs) otherwise.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
DATASETS = ("fashion-mnist", "mnist", "digits")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
# read by the project's scripts, not by aelib: known, so they are not reported as typos
_ELSEWHERE = ("AELIB_BENCH_NOTEBOOKS", "AELIB_CHROMIUM")
_log = logging.getLogger("aelib.settings")


class SettingsError(ValueError):
    """An ``AELIB_*`` environment variable holds a value aelib cannot use."""


def in_checkout() -> bool:
    """True when aelib runs from a checkout of the course repository (not an installed copy)."""
    try:
        text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return 'name = "aelib"' in text and (REPO_ROOT / "notebooks").is_dir()


def default_data_dir() -> Path:
    """data/ in a checkout; else the per-user data folder (~/.local/share/aelib on Linux)."""
    if in_checkout():
        return REPO_ROOT / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir("aelib", appauthor=False))


def default_cache_dir() -> Path:
    """checkpoints/ in a checkout; else the per-user cache (~/.cache/aelib/checkpoints)."""
    if in_checkout():
        return REPO_ROOT / "checkpoints"
    import platformdirs

    return Path(platformdirs.user_cache_dir("aelib", appauthor=False)) / "checkpoints"


@dataclass(frozen=True)
class Settings:
    """The parsed values; None means "not set" (the documented default applies)."""

    dataset: str | None = None
    data_dir: Path | None = None
    shared_data: tuple[Path, ...] = ()
    system_data_dirs: tuple[Path, ...] | None = None
    strict_data: bool = False
    offline: bool = False
    download_timeout: float = 10.0
    data_mirrors: tuple[str, ...] = ()
    cache_dir: Path | None = None
    shared_cache: tuple[Path, ...] = ()
    retrain: bool = False
    device: str | None = None
    verbose: bool = False


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def _bool(name: str) -> bool:
    value = _raw(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(
        f"{name}={os.environ[name]!r} is not a yes/no value: use 1/0, true/false or yes/no "
        f"(any case), or unset {name}."
    )


def _path(name: str) -> Path | None:
    value = _raw(name)
    return Path(os.path.expandvars(value)).expanduser() if value else None


def _paths(name: str) -> tuple[Path, ...] | None:
    """A list of folders separated by os.pathsep; None when unset, () when set but empty."""
    if name not in os.environ:
        return None
    parts = os.environ[name].split(os.pathsep)
    return tuple(Path(os.path.expandvars(p.strip())).expanduser() for p in parts if p.strip())


def _seconds(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise SettingsError(
            f"{name}={os.environ[name]!r} is not a positive number of seconds (for example "
            f"{name}=30)."
        )
    return seconds


def _dataset() -> str | None:
    value = _raw("AELIB_DATASET")
    if value is None:
        return None
    if value.lower() not in DATASETS:
        raise SettingsError(
            f"AELIB_DATASET={os.environ['AELIB_DATASET']!r} is not a dataset aelib knows: "
            f"choose one of {', '.join(DATASETS)}, or unset AELIB_DATASET."
        )
    return value.lower()


def _device() -> str | None:
    """The syntax only (lower-cased); runtime.get_device checks it against this machine."""
    value = _raw("AELIB_DEVICE")
    return value.lower() if value else None


def _parse() -> Settings:
    mirrors = _raw("AELIB_DATA_MIRROR")
    return Settings(
        dataset=_dataset(),
        data_dir=_path("AELIB_DATA_DIR"),
        shared_data=_paths("AELIB_SHARED_DATA") or (),
        system_data_dirs=_paths("AELIB_SYSTEM_DATA_DIR"),
        strict_data=_bool("AELIB_STRICT_DATA"),
        offline=_bool("AELIB_OFFLINE"),
        download_timeout=_seconds("AELIB_DOWNLOAD_TIMEOUT", 10.0),
        data_mirrors=tuple(m.strip().rstrip("/") + "/" for m in (mirrors or "").split(",")
                           if m.strip()),  # fmt: skip
        cache_dir=_path("AELIB_CACHE_DIR"),
        shared_cache=_paths("AELIB_SHARED_CACHE") or (),
        retrain=_bool("AELIB_RETRAIN"),
        device=_device(),
        verbose=_bool("AELIB_VERBOSE"),
    )


KNOWN = (
    "AELIB_DATASET", "AELIB_DATA_DIR", "AELIB_SHARED_DATA", "AELIB_SYSTEM_DATA_DIR",
    "AELIB_STRICT_DATA", "AELIB_OFFLINE", "AELIB_DOWNLOAD_TIMEOUT", "AELIB_DATA_MIRROR",
    "AELIB_CACHE_DIR", "AELIB_SHARED_CACHE", "AELIB_RETRAIN", "AELIB_DEVICE", "AELIB_VERBOSE",
)  # fmt: skip
_cached: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def current() -> Settings:
    """The settings of the current environment (parsed again only when an AELIB_* changed)."""
    global _cached
    snapshot = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AELIB_")))
    if _cached is not None and _cached[0] == snapshot:
        return _cached[1]
    settings = _parse()
    for name, _ in snapshot:
        if name not in KNOWN and name not in _ELSEWHERE:
            guess = difflib.get_close_matches(name, KNOWN, n=1)
            hint = f" Did you mean {guess[0]}?" if guess else ""
            _log.warning("%s is not a setting aelib knows; it is ignored.%s", name, hint)
    _cached = (snapshot, settings)
    return settings
