"""The train-or-load checkpoint cache (02_autoencoder; README, "Trained models are cached").

``train_or_load`` looks a model up by a key over everything that decides what is learned:
the model's class and layer shapes, the loss function (its source, the values of the
closure variables and globals it reads, the source of the functions it calls), the
training settings and a fingerprint of the data. It reads the shared read-only caches
(``AELIB_SHARED_CACHE``) first and never writes them, then the user's own cache
(``AELIB_CACHE_DIR``; default ``checkpoints/`` in a checkout, else a per-user folder).

Faults never cost a trained model: a checkpoint that cannot be used is reported with its
real cause and moved aside under a unique name (never deleted) before retraining; a cache
that cannot be written returns the trained model with a one-line notice; nothing that is
NaN or infinite is ever written. Checkpoints are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import inspect
import io
import json
import logging
import math
import os
import pickle
import re
import secrets
import sysconfig
import time
import types
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import checks
from . import settings as _settings
from .files import atomic_write, why
from .train import History, LossFn, fit, fit_gan, summary

CHECKPOINT_FORMAT = "aelib-checkpoint-1"
log = logging.getLogger("aelib.cache")
# torch.save's legacy (non-zip) format starts with a pickled magic number
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; ``reason`` says why, in one word.

    missing, unreadable (it may be healthy), empty, truncated, not-a-checkpoint, code
    (its pickle asks to import or run something), damaged (aelib's marker, odd contents),
    foreign (another kind of file), architecture (another model), non-finite (NaN/inf).
    """

    def __init__(self, message: str, reason: str = "damaged") -> None:
        super().__init__(message)
        self.reason = reason


# ------------------------------------------------------------------------ where and what key

_NOT_SETTINGS = ("progress", "desc")  # do not change what is learned
_DEFAULTS = {  # so that fit(..., lr=1e-3) and fit(...) share a cache entry
    key: {k: p.default for k, p in inspect.signature(fn).parameters.items()
          if p.kind == p.KEYWORD_ONLY and k not in _NOT_SETTINGS}
    for key, fn in (("fit", fit), ("gan", fit_gan))
}  # fmt: skip
# bumped when what fit_gan logs changes, so that cached GANs are retrained with the new
# history (2: D(fake) from D's pass before its update, like D(real))
_GAN_LOG_VERSION = 2


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where trained models are cached: ``path``, ``AELIB_CACHE_DIR``, or the default.

    The default is ``checkpoints/`` in a checkout of the repository, else the per-user
    cache folder (``~/.cache/aelib/checkpoints`` on Linux): never inside an installed package.
    """
    if path is not None:
        return Path(path).expanduser()
    return _settings.current().cache_dir or _settings.default_cache_dir()


def tensor_fingerprint(x: Tensor) -> str:
    """A cheap content hash of a large tensor (a strided sample of 1024 rows plus the shape)."""
    sample = x[:: max(1, len(x) // 1024)].detach().cpu().contiguous()
    return f"{tuple(x.shape)}-{x.dtype}-{zlib.crc32(sample.numpy().tobytes()):08x}"


def _source_hash(obj: Any) -> str | None:
    try:
        return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return None


def _value_key(value: Any, depth: int, seen: set[int]) -> Any:
    """A JSON-able stand-in for a value a loss reads, or None when it cannot be hashed."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, float) or math.isfinite(value) else repr(value)
    if isinstance(value, (tuple, list)) and len(value) <= 64:
        return [_value_key(v, depth, seen) for v in value]
    if isinstance(value, dict) and len(value) <= 64:
        return {str(k): _value_key(v, depth, seen) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, Tensor):
        return tensor_fingerprint(value.reshape(1) if value.dim() == 0 else value)
    if isinstance(value, nn.Module):
        return {type(value).__qualname__: {k: tensor_fingerprint(v.reshape(1) if v.dim() == 0
                                                                 else v)
                                           for k, v in value.state_dict().items()}}  # fmt: skip
    if isinstance(value, functools.partial):
        return {"partial": _fn_key(value.func, depth, seen),
                "args": _value_key(list(value.args), depth, seen),
                "kw": _value_key(dict(value.keywords), depth, seen)}  # fmt: skip
    if isinstance(value, types.FunctionType):
        return _fn_key(value, depth, seen)
    return None  # modules, classes, other objects: not part of the key (README: the limits)


_LIBRARY_DIRS = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib",
                                                             "platlib")})  # fmt: skip


def _own_code(fn: types.FunctionType) -> bool:
    """Code written in a notebook, a script or aelib (worth following), not a library's."""
    module = getattr(fn, "__module__", None) or ""
    if module == "aelib" or module.startswith("aelib."):
        return True
    file = fn.__code__.co_filename or ""
    parts = Path(file).parts
    return not ("site-packages" in parts or "dist-packages" in parts
                or file.startswith(_LIBRARY_DIRS))  # fmt: skip


def _names(code: types.CodeType) -> set[str]:
    """Global names the code (and the functions, lambdas and comprehensions in it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _fn_key(fn: Any, depth: int = 0, seen: set[int] | None = None) -> Any:
    """The source of ``fn`` plus what it reads: closure cells, defaults, globals, callees."""
    seen = set() if seen is None else seen
    if not isinstance(fn, types.FunctionType):
        if isinstance(fn, functools.partial):
            return _value_key(fn, depth, seen)
        return _source_hash(type(fn)) or getattr(fn, "__qualname__", type(fn).__qualname__)
    src = _source_hash(fn) or fn.__qualname__
    if id(fn) in seen or depth > 3 or not _own_code(fn):
        return f"{fn.__module__}.{fn.__qualname__}" if not _own_code(fn) else src
    seen.add(id(fn))
    deps: dict[str, Any] = {}
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    for name, cell in sorted(cells.items()):
        try:
            deps[f"closure:{name}"] = _value_key(cell.cell_contents, depth + 1, seen)
        except ValueError:  # an empty cell
            deps[f"closure:{name}"] = None
    for name in sorted(_names(fn.__code__)):
        if name in fn.__globals__:
            key = _value_key(fn.__globals__[name], depth + 1, seen)
            if key is not None:
                deps[f"global:{name}"] = key
    if fn.__defaults__:
        deps["defaults"] = _value_key(list(fn.__defaults__), depth + 1, seen)
    if fn.__kwdefaults__:
        deps["kwdefaults"] = _value_key(dict(fn.__kwdefaults__), depth + 1, seen)
    deps = {k: v for k, v in deps.items() if v is not None}
    return src if not deps else {"source": src, "reads": deps}


def _describe_fn(fn: Callable | None) -> str:
    """The loss function's part of the key: its source alone when it reads nothing else."""
    if fn is None:
        return "-"
    key = _fn_key(fn)
    if isinstance(key, str):  # the same key as before aelib followed what a loss reads
        return key
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _architecture(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def cache_key(name: str, model: nn.Module, x: Tensor, loss_fn: LossFn | None, gan: bool,
              fit_kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The 12-hex-digit key of a training and the settings it covers."""
    settings = {**_DEFAULTS["gan" if gan else "fit"],
                **{k: v for k, v in fit_kwargs.items() if k not in _NOT_SETTINGS}}  # fmt: skip
    spec = {"name": name, "model": type(model).__name__, "arch": _architecture(model),
            "loss": _describe_fn(loss_fn), "settings": settings, "data": tensor_fingerprint(x),
            "format": CHECKPOINT_FORMAT}  # fmt: skip
    if gan:
        spec["gan_log"] = _GAN_LOG_VERSION
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return key, settings


# --------------------------------------------------------------------------- save and load


def _non_finite(state: dict[str, Tensor]) -> list[str]:
    return [k for k, v in state.items()
            if v.is_floating_point() and not bool(torch.isfinite(v).all())]  # fmt: skip


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, history: History | None = None, **meta: Any
) -> Path:
    """Write weights (and history) atomically, with the umask's permissions; refuse NaN/inf.

    A crash or a full disk never leaves a half-written file (an existing checkpoint stays
    as it was). OSError says which folder could not be written and why.
    """
    checks.module(model, "model", "aelib.save_checkpoint")
    path = Path(path).expanduser()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad:
        raise ValueError(
            f"Not saving {path.name}: the model holds NaN or infinite weights "
            f"({', '.join(bad[:3])}); a checkpoint of a diverged training would only be "
            "loaded again. Train it again with a lower learning rate."
        )
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": type(model).__name__,
        "state_dict": state,
        "history": history.to_dict() if history is not None else None,
        "meta": json.dumps(meta, sort_keys=True, default=str),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(payload, f))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path.name} into {path.parent}: "
                      f"{why(exc)}") from exc  # fmt: skip
    return path


def _read(path: Path) -> tuple[bytes, tuple[int, int, int, int]]:
    """The file's bytes and identity (device, inode, size, mtime), or a CheckpointError."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.", "missing") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.", "folder") from None
    except OSError as exc:
        raise CheckpointError(
            f"Cannot read {path}: {why(exc)}. The file may be healthy: fix its permissions "
            "(for example chmod a+r) or point AELIB_CACHE_DIR elsewhere.", "unreadable"
        ) from None
    return data, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _unpickle(path: Path, data: bytes) -> Any:
    """torch.load(weights_only=True) of ``data``, every failure named by its real cause."""
    fix = "Delete it and train again."
    if not data:
        raise CheckpointError(f"{path} is empty (0 bytes), as after an interrupted copy. {fix}",
                              "empty")  # fmt: skip
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names, bad = zf.namelist(), zf.testzip()
        except (zipfile.BadZipFile, EOFError, ValueError, OSError):
            raise CheckpointError(
                f"{path} is truncated or damaged: a zip archive (torch.save's format) without "
                f"its end ({len(data):,} bytes), as after a full disk or a broken copy. {fix}",
                "truncated",
            ) from None
        if bad is not None:
            raise CheckpointError(f"{path} is damaged: {bad} inside it fails its checksum. {fix}",
                                  "damaged")  # fmt: skip
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            raise CheckpointError(f"{path} is a zip archive but not a torch checkpoint "
                                  f"(it holds {', '.join(names[:3])}).", "foreign")  # fmt: skip
    elif not data.startswith(_LEGACY_MAGIC):
        kind = "a plain pickle" if data[:1] == b"\x80" else "random or foreign bytes"
        raise CheckpointError(
            f"{path} is not a torch checkpoint: it starts with {data[:8]!r}, neither "
            f"torch.save's zip format nor its legacy format ({kind}). {fix}", "not-a-checkpoint"
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if m:
            raise CheckpointError(
                f"Refused {path}: it is not plain weights (its pickle asks to import and call "
                f"{m.group(1)}, which could run code). Only load checkpoints written by "
                "aelib.save_checkpoint or torch.save of a state_dict.", "code"
            ) from None
        detail = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0][:120]
        raise CheckpointError(f"{path} is damaged: its pickle cannot be read ({detail}). {fix}",
                              "damaged") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - torch's reader: damaged records inside the zip
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is damaged ({type(exc).__name__}: {first}). {fix}",
                              "damaged") from None  # fmt: skip


def _contents(path: Path, payload: Any) -> tuple[dict[str, Tensor], dict | None, str]:
    """(state_dict, history dict, saved model name) from a payload, or a CheckpointError."""
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        state, history = payload.get("state_dict"), payload.get("history")
        problem = None
        if not isinstance(state, dict) or not state:
            problem = f"its state_dict is {type(state).__name__}, not a dict of tensors"
        elif not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
            problem = "its state_dict holds entries that are not named tensors"
        elif history is not None:
            try:
                History.from_dict(history)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problem = f"its training history is malformed ({type(exc).__name__}: {exc})"
        if problem:
            raise CheckpointError(f"{path} carries aelib's checkpoint marker but is damaged: "
                                  f"{problem}.", "damaged")  # fmt: skip
        return state, history, str(payload.get("model", "model"))
    if (isinstance(payload, dict) and payload
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in payload.items())):
        return payload, None, "state_dict"  # a bare state_dict
    what = (f"a dict with keys {', '.join(map(str, list(payload)[:4]))}"
            if isinstance(payload, dict) else f"a {type(payload).__name__}")  # fmt: skip
    raise CheckpointError(f"{path} is not an aelib checkpoint or a state_dict: it holds {what}.",
                          "foreign")  # fmt: skip


def _load(model: nn.Module, path: Path, data: bytes) -> History | None:
    """Load checkpoint bytes ``data`` (read from ``path``) into ``model``, or CheckpointError."""
    state, history, saved = _contents(path, _unpickle(path, data))
    bad = _non_finite(state)
    if bad:
        raise CheckpointError(
            f"{path} holds NaN or infinite weights ({', '.join(bad[:3])}): the training that "
            "wrote it diverged.", "non-finite"
        )
    expected, found = _architecture(model), {k: list(v.shape) for k, v in state.items()}
    if expected != found:
        missing = [k for k in expected if k not in found]
        unexpected = [k for k in found if k not in expected]
        shapes = [f"{k}: {found[k]} in file, {expected[k]} in model" for k in expected
                  if k in found and found[k] != expected[k]]  # fmt: skip
        detail = "; ".join(
            part for part in (
                f"missing {', '.join(missing[:4])}" if missing else "",
                f"unexpected {', '.join(unexpected[:4])}" if unexpected else "",
                "; ".join(shapes[:4]),
            ) if part
        )  # fmt: skip
        raise CheckpointError(
            f"{path} holds weights of another architecture ({saved}) than this "
            f"{type(model).__name__} ({detail}). Build the model with the same sizes, or "
            "delete the checkpoint and train again.", "architecture"
        )
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path} does not fit this {type(model).__name__}: {exc}",
                              "architecture") from None  # fmt: skip
    return History.from_dict(history) if history else None


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> History | None:
    """Load weights saved by save_checkpoint into ``model``; raise CheckpointError if unusable."""
    checks.module(model, "model", "aelib.load_checkpoint")
    path = Path(path).expanduser()
    return _load(model, path, _read(path)[0])


# ----------------------------------------------------------------------------- the cache


def _move_aside(path: Path, identity: tuple[int, int, int, int] | None) -> str:
    """Rename a rejected checkpoint to a unique name; say what happened, in a few words.

    Harmless when several processes reject the same file at once: the file is renamed only
    if it is still the one this process read (another process may have moved it, or put a
    freshly trained checkpoint in its place).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.rejected-{stamp}-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        st = os.stat(path)
        if identity is not None and (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != identity:
            return "another process has replaced it meanwhile; left that one alone"
        os.replace(path, aside)
    except FileNotFoundError:
        return "another process moved it aside already"
    except OSError as exc:
        return f"could not move it aside ({why(exc)}); left it in place"
    return f"moved it to {aside.name}"


_LEAVE = ("unreadable", "folder")  # may be healthy, or not a file: never moved


def _try_load(name: str, model: nn.Module, path: Path, shared: bool) -> tuple[Any, bool]:
    """(history, False) when ``path`` loads (History() if none stored); (None, left) if not.

    ``left`` is True when an unusable file stays where it is (unreadable, a folder), so
    that the caller does not write over it.
    """
    identity = None
    try:
        data, identity = _read(path)
        history = _load(model, path, data)
    except CheckpointError as exc:
        if exc.reason == "missing":
            return None, False
        if shared or exc.reason in _LEAVE:
            log.warning("%s Not using it (left in place); training %s instead.", exc, name)
            return None, exc.reason in _LEAVE
        where = _move_aside(path, identity)
        log.warning("%s %s; training %s again.", exc, where[0].upper() + where[1:], name)
        return None, False
    model.eval()
    log.info("Loaded %s from %s (%s cache; delete it to retrain).", name, path,
             "shared" if shared else "own")  # fmt: skip
    return (history if history is not None else History()), False


def train_or_load(
    name: str,
    model: nn.Module,
    x: Tensor,
    loss_fn: LossFn | None = None,
    *,
    gan: bool = False,
    cache: str | os.PathLike | None = None,
    retrain: bool = False,
    **fit_kwargs: Any,
) -> History:
    """Load ``model`` from the cache if these exact settings were trained before, else train.

    The key covers the model's class and layer shapes, the loss function (source, and the
    closure values, globals and functions it reads), the training settings and a
    fingerprint of ``x``. Shared caches (``AELIB_SHARED_CACHE``) are read first and never
    written. A corrupt, foreign or mismatched checkpoint is reported, moved aside (never
    deleted) and the model is retrained; ``retrain=True`` (or ``AELIB_RETRAIN=1``) trains
    again whatever the cache holds. If the cache cannot be written, the trained model is
    returned all the same, with a notice.
    """
    who = "aelib.train_or_load"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise ValueError(f"{who}: name must be a short file-name-safe string (letters, digits, "
                         f"_ . + -), got {name!r}.")  # fmt: skip
    checks.module(model, "model", who)
    checks.training_data(x, who)
    if not gan and loss_fn is None:
        raise ValueError("train_or_load needs a loss_fn (or gan=True for fit_gan).")
    if loss_fn is not None:
        checks.function(loss_fn, "loss_fn", who)
    progress = fit_kwargs.get("progress", True)
    key, settings = cache_key(name, model, x, loss_fn, gan, fit_kwargs)
    filename = f"{name}-{key}.pt"
    own = cache_dir(cache)
    config = _settings.current()
    left = False
    if not (retrain or config.retrain):
        for folder, shared in [*((p, True) for p in config.shared_cache), (own, False)]:
            if (folder / filename).exists():
                history, left_here = _try_load(name, model, folder / filename, shared)
                left = left or (left_here and not shared)
                if history is not None:
                    if progress:
                        print(summary(name, history, cached=True), flush=True)
                    return history
    kwargs = {"desc": name, **fit_kwargs}
    history = fit_gan(model, x, **kwargs) if gan else fit(model, x, loss_fn, **kwargs)
    path = own / filename
    if history.interrupted:
        log.warning("Not caching %s: training was interrupted.", name)
        return history
    try:
        if left:
            raise OSError(errno.EEXIST, f"{path} is in the way and was left in place")
        save_checkpoint(model, path, history, name=name, key=key, settings=settings)
    except ValueError as exc:  # non-finite weights after the last step
        log.warning("Not caching %s: %s", name, exc)
    except OSError as exc:
        log.warning("Not caching %s: %s. The trained model is returned as it is; set "
                    "AELIB_CACHE_DIR to a folder you can write to keep it.", name, why(exc))
    else:
        log.info("Cached %s as %s.", name, path)
    return history
