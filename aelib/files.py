"""Atomic file writes with the user's umask, for checkpoints and decompressed data.

A file appears under its final name only when complete (written to a hidden ``.part``
file in the same folder, flushed to disk, then renamed), and gets the permissions any
other program of the user would give it (``0o666`` minus the umask), so that a shared
folder stays readable by the others. ``tempfile.mkstemp`` alone would leave it ``0o600``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def umask() -> int:
    """The process's umask (os.umask can only be read by setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it to ``path``.

    Any exception (a full disk, Ctrl-C) removes the temporary file and leaves an existing
    ``path`` as it was. OSErrors from creating the folder or the file propagate unchanged.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def why(exc: BaseException) -> str:
    """An OSError as a reader wants it: the reason, without the repeated file name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"
