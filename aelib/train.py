"""One fast training loop for every model, and a train-or-load checkpoint cache (02_autoencoder).

Batches are slices of one in-memory tensor in an order drawn from a seeded
``torch.Generator``: no per-sample transforms, no DataLoader workers. Interrupting
(Ctrl-C, or the stop button in Jupyter) ends training cleanly: the model keeps what it
learned and the returned history says ``interrupted=True``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import pickle
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import REPO_ROOT
from .runtime import device_of

CHECKPOINT_FORMAT = "aelib-checkpoint-1"
LossFn = Callable[[nn.Module, Tensor], "Tensor | tuple[Tensor, dict[str, Tensor]]"]


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: corrupt, not plain weights, or for another model."""


@dataclass
class History:
    """Per-epoch means of the loss and of any other terms the loss function reports."""

    loss: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = f"{self.loss[-1]:.4g}" if self.loss else "-"
        flag = ", interrupted" if self.interrupted else ""
        return f"History(epochs={len(self.loss)}, last loss={last}, {self.seconds:.1f} s{flag})"

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, so a checkpoint can be loaded with weights_only=True."""
        return {"loss": self.loss, "terms": self.terms, "interrupted": self.interrupted,
                "seconds": self.seconds}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of to_dict."""
        return cls(list(d["loss"]), {k: list(v) for k, v in d["terms"].items()},
                   bool(d["interrupted"]), float(d["seconds"]))  # fmt: skip


def make_adam(params: Any, lr: float = 1e-3, weight_decay: float = 0.0, **kw: Any):
    """Adam with the fused kernel where this torch supports it (one pass over all parameters)."""
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(list(params), lr=lr, weight_decay=weight_decay, **kw)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Inside the block, ``module``'s parameters get no gradients (they are restored after)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _loop(
    x: Tensor,
    step: Callable[[Tensor], dict[str, Tensor]],
    *,
    num_epochs: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    progress: bool,
    desc: str,
) -> History:
    """Shuffle, slice, step, average; report through tqdm; survive KeyboardInterrupt."""
    from tqdm.auto import tqdm

    if not isinstance(x, Tensor) or x.dim() < 2 or len(x) == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"Training data must be a non-empty batch tensor (N, ...); got {shape}.")
    if num_epochs < 1 or batch_size < 1:
        raise ValueError(f"num_epochs and batch_size must be >= 1, got {num_epochs}, {batch_size}.")
    torch.manual_seed(seed)  # sampling inside the step (VAE noise, GAN noise) is seeded too
    order_rng = torch.Generator().manual_seed(seed)
    x = x.to(device)
    n, n_batches = len(x), math.ceil(len(x) / batch_size)
    history = History()
    bar = tqdm(total=num_epochs * n_batches, desc=desc, disable=not progress, unit="batch",
               mininterval=0.25)  # fmt: skip
    start = time.perf_counter()
    # images per batch, to weight the batch means (the last batch may be smaller)
    sizes = torch.full((n_batches,), float(batch_size), dtype=torch.float64)
    sizes[-1] = n - (n_batches - 1) * batch_size
    try:
        for _ in range(num_epochs):
            order = torch.randperm(n, generator=order_rng).to(device)
            batch_terms: list[dict[str, Tensor]] = []
            for i in range(n_batches):
                idx = order[i * batch_size : (i + 1) * batch_size]
                terms = step(x.index_select(0, idx))  # = x[idx]; index_select is a faster copy
                # keep each batch's values on the device and add them up after the epoch:
                # no extra tensor operations and no device sync per batch
                batch_terms.append({k: v.detach() for k, v in terms.items()})
                bar.update(1)
                if i % 50 == 0:
                    bar.set_postfix(loss=f"{float(terms['loss'].detach()):.4f}", refresh=False)
            values = {k: torch.stack([t[k] for t in batch_terms]).cpu().double()
                      for k in batch_terms[0]}  # fmt: skip
            means = {k: float(v @ sizes) / n for k, v in values.items()}
            history.loss.append(means.pop("loss"))
            for k, v in means.items():
                history.terms.setdefault(k, []).append(v)
            bar.set_postfix(loss=f"{history.loss[-1]:.4f}")
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training interrupted after {len(history.loss)} complete epoch(s); the model "
              "keeps the weights learned so far.", flush=True)  # fmt: skip
    finally:
        bar.close()
        history.seconds = time.perf_counter() - start
    return history


def fit(
    model: nn.Module,
    x: Tensor,
    loss_fn: LossFn,
    *,
    num_epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> History:
    """Train ``model`` on ``x`` with Adam, minimizing ``loss_fn(model, batch)`` (02_autoencoder).

    ``loss_fn`` returns a scalar loss, or ``(loss, {"name": term, ...})`` to log more terms.
    The model trains on its own device and is left in eval mode.
    """
    device = device_of(model)
    opt = make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()

    def step(xb: Tensor) -> dict[str, Tensor]:
        out = loss_fn(model, xb)
        loss, terms = out if isinstance(out, tuple) else (out, {})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss, **terms}

    try:
        return _loop(x, step, num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                     device=device, progress=progress, desc=desc or type(model).__name__)
    finally:
        model.eval()


def fit_gan(
    gan: nn.Module,
    x: Tensor,
    *,
    num_epochs: int = 10,
    batch_size: int = 128,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> History:
    """Alternate one discriminator and one generator step per batch (07_gan_contrast).

    Non-saturating losses: D minimizes BCE(D(x), 1) + BCE(D(G(z)), 0); G minimizes
    BCE(D(G(z)), 1). Logged terms: ``d_loss``, ``g_loss``, ``d_real`` = mean D(x) and
    ``d_fake`` = mean D(G(z)) as probabilities.
    """
    gen, disc = gan.generator, gan.discriminator
    device = device_of(gan)
    opt_g = make_adam(gen.parameters(), lr=lr, betas=betas)
    opt_d = make_adam(disc.parameters(), lr=lr, betas=betas)
    gan.train()

    def step(xb: Tensor) -> dict[str, Tensor]:
        b = len(xb)
        ones, zeros = xb.new_ones(b), xb.new_zeros(b)
        fake = gen(torch.randn(b, gen.latent_dims, device=xb.device))
        real_logit, fake_logit = disc(xb), disc(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, ones)
                  + F.binary_cross_entropy_with_logits(fake_logit, zeros))  # fmt: skip
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with frozen(disc):  # G's step needs no gradients for D's weights: skip computing them
            fake_logit = disc(fake)
            g_loss = F.binary_cross_entropy_with_logits(fake_logit, ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        return {"loss": g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": torch.sigmoid(real_logit).mean(),
                "d_fake": torch.sigmoid(fake_logit).mean()}  # fmt: skip

    try:
        return _loop(x, step, num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                     device=device, progress=progress, desc=desc or "GAN")
    finally:
        gan.eval()


# ----------------------------------------------------------------------------- checkpoints

_NOT_SETTINGS = ("progress", "desc")  # do not change what is learned
_DEFAULTS = {  # so that fit(..., lr=1e-3) and fit(...) share a cache entry
    key: {k: p.default for k, p in inspect.signature(fn).parameters.items()
          if p.kind == p.KEYWORD_ONLY and k not in _NOT_SETTINGS}
    for key, fn in (("fit", fit), ("gan", fit_gan))
}  # fmt: skip


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where trained models are cached: ``path``, ``AELIB_CACHE_DIR`` or checkpoints/."""
    return Path(path or os.environ.get("AELIB_CACHE_DIR") or REPO_ROOT / "checkpoints")


def tensor_fingerprint(x: Tensor) -> str:
    """A cheap content hash of a large tensor (a strided sample plus the shape)."""
    sample = x[:: max(1, len(x) // 1024)].detach().cpu().contiguous()
    return f"{tuple(x.shape)}-{x.dtype}-{zlib.crc32(sample.numpy().tobytes()):08x}"


def _describe_fn(fn: Callable | None) -> str:
    if fn is None:
        return "-"
    try:  # the source, so that editing a loss function invalidates its cached models
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


def _architecture(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, history: History | None = None, **meta: Any
) -> Path:
    """Write weights (and history) atomically: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": type(model).__name__,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history.to_dict() if history is not None else None,
        "meta": json.dumps(meta, sort_keys=True, default=str),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> History | None:
    """Load weights saved by save_checkpoint into ``model``; raise CheckpointError if unusable."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"No checkpoint at {path}.") from None
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise CheckpointError(
                f"Refused {path}: it is not plain weights (its pickle asks to run code). "
                "Only load checkpoints written by aelib.save_checkpoint or torch.save of a "
                "state_dict."
            ) from None
        raise CheckpointError(f"{path} is corrupt ({exc}). Delete it and train again.") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad magic, ...
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__}). Delete it and train again."
        ) from None
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        state, history = payload["state_dict"], payload.get("history")
    elif isinstance(payload, dict) and all(isinstance(v, Tensor) for v in payload.values()):
        state, history = payload, None  # a bare state_dict
    else:
        raise CheckpointError(f"{path} is not an aelib checkpoint or a state_dict.")
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
        saved = payload.get("model", "model") if "state_dict" in payload else "state_dict"
        raise CheckpointError(
            f"{path} holds weights of another architecture ({saved}) than this "
            f"{type(model).__name__} ({detail}). Build the model with the same sizes, or "
            "delete the checkpoint and train again."
        )
    model.load_state_dict(state)
    return History.from_dict(history) if history else None


def train_or_load(
    name: str,
    model: nn.Module,
    x: Tensor,
    loss_fn: LossFn | None = None,
    *,
    gan: bool = False,
    cache: str | os.PathLike | None = None,
    **fit_kwargs: Any,
) -> History:
    """Load ``model`` from the cache if these exact settings were trained before, else train.

    The key covers the model's class and layer shapes, the loss function's source, the
    training settings and a fingerprint of ``x``. A corrupt, foreign or mismatched checkpoint
    is reported, moved aside (never deleted) and the model is retrained.
    """
    if not gan and loss_fn is None:
        raise ValueError("train_or_load needs a loss_fn (or gan=True for fit_gan).")
    settings = {**_DEFAULTS["gan" if gan else "fit"],
                **{k: v for k, v in fit_kwargs.items() if k not in _NOT_SETTINGS}}  # fmt: skip
    spec = {"name": name, "model": type(model).__name__, "arch": _architecture(model),
            "loss": _describe_fn(loss_fn), "settings": settings, "data": tensor_fingerprint(x),
            "format": CHECKPOINT_FORMAT}  # fmt: skip
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = cache_dir(cache) / f"{name}-{key}.pt"
    if path.exists():
        try:
            history = load_checkpoint(model, path)
            model.eval()
            print(f"Loaded {name} from {path.name} (cached; delete it to retrain).", flush=True)
            return history if history is not None else History()
        except CheckpointError as exc:
            aside = path.with_name(path.name + f".rejected-{int(time.time())}")
            os.replace(path, aside)
            print(f"{exc} Moved it to {aside.name}; training again.", flush=True)
    history = fit_gan(model, x, **fit_kwargs) if gan else fit(model, x, loss_fn, **fit_kwargs)
    if history.interrupted:
        print(f"Not caching {name}: training was interrupted.", flush=True)
    else:
        save_checkpoint(model, path, history, name=name, key=key, settings=settings)
    return history
