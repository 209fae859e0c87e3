"""One fast training loop for every model (02_autoencoder); the checkpoint cache is aelib.cache.

Batches are slices of one in-memory tensor in an order drawn from a seeded
``torch.Generator``: no per-sample transforms, no DataLoader workers. Interrupting
(Ctrl-C, or the stop button in Jupyter) ends training cleanly: the model keeps what it
learned and the returned history says ``interrupted=True``. A loss that becomes NaN or
infinite stops training with ``NonFiniteLossError`` (checked once per epoch, on the
epoch's batch losses: no extra device sync per batch).

Progress: a tqdm bar while training (a widget in Jupyter) that ends as one line of text,
for example ``ae: 30 epochs, final loss 0.0262, trained in 31 s``; in a notebook the
bar is shown through a display handle and replaced by that line, so a saved notebook
keeps the line, not a frozen "0%" bar.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import checks
from .runtime import device_of

LossFn = Callable[[nn.Module, Tensor], "Tensor | tuple[Tensor, dict[str, Tensor]]"]
_MOVED = {"train_or_load", "save_checkpoint", "load_checkpoint", "CheckpointError", "cache_dir",
          "tensor_fingerprint", "CHECKPOINT_FORMAT"}  # fmt: skip


def __getattr__(name: str) -> Any:  # the cache moved to aelib.cache; old imports keep working
    if name in _MOVED:
        from . import cache

        return getattr(cache, name)
    raise AttributeError(f"module 'aelib.train' has no attribute {name!r}")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message says where and the likely cause."""


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
        return cls([float(v) for v in d["loss"]],
                   {str(k): [float(x) for x in v] for k, v in d["terms"].items()},
                   bool(d["interrupted"]), float(d["seconds"]))  # fmt: skip


def summary(name: str, history: History, cached: bool = False, planned: int | None = None) -> str:
    """One line on a training: epochs, final loss (and terms), time; no file names."""
    seconds = f"{history.seconds:.0f} s" if history.seconds >= 10 else f"{history.seconds:.1f} s"
    if not history.loss:
        return f"{name}: no complete epoch ({seconds})"
    terms = ", ".join(f"{k} {v[-1]:.4g}" for k, v in history.terms.items()
                      if v[-1] != history.loss[-1])  # fit_gan: the loss is g_loss  # fmt: skip
    loss = f"final loss {history.loss[-1]:.4g}" + (f" ({terms})" if terms else "")
    if history.interrupted:
        of = f" of {planned}" if planned else ""
        return f"{name}: interrupted after {len(history.loss)}{of} epochs, {loss}, {seconds}"
    where = " (loaded from the cache)" if cached else ""
    epochs = f"{len(history.loss)} epoch{'s' if len(history.loss) != 1 else ''}"
    return f"{name}: {epochs}, {loss}, trained in {seconds}{where}"


class _Progress:
    """A tqdm bar; in Jupyter displayed through a handle that ends as the summary line."""

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.handle, self.bar = None, None
        if not enabled:
            return
        from tqdm.auto import tqdm

        kw = {"total": total, "desc": desc, "unit": "batch", "mininterval": 0.25}
        notebook = sys.modules.get("tqdm.notebook")  # tqdm.auto imported it: a Jupyter kernel
        if notebook is not None and issubclass(tqdm, notebook.tqdm_notebook):  # a widget bar
            from IPython.display import display

            self.bar = tqdm(**kw, display=False)
            self.handle = display(self.bar.container, display_id=True)
        else:  # a text bar on stderr, cleared at the end; the summary is printed instead
            self.bar = tqdm(**kw, leave=False)

    def update(self, loss: Tensor | None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if loss is not None:
                self.bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)

    def epoch(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def finish(self, line: str) -> None:
        """Close the bar and leave ``line`` in its place (a notebook) or below it (a terminal)."""
        if self.bar is None:
            return
        self.bar.close()
        self.bar = None
        if self.handle is not None:
            self.handle.update({"text/plain": line}, raw=True)
        else:
            print(line, flush=True)


def make_adam(params: Any, lr: float = 1e-3, weight_decay: float = 0.0, **kw: Any):
    """Adam with the fused kernel where this torch supports it (one pass over all parameters)."""
    params = list(params)
    if not params:
        raise ValueError("The model has no trainable parameters: nothing to train.")
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)


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


def _non_finite(desc: str, losses: Tensor, epoch: int, num_epochs: int, hint: str) -> str:
    """The sentence for the first non-finite batch loss of an epoch."""
    bad = (~torch.isfinite(losses)).nonzero()
    i = int(bad[0])
    first = epoch == 0 and i == 0
    cause = ("the loss function returns it for this data from the very first batch: look for "
             "a log of 0, a division by 0 or a square root of a negative number, and for NaN "
             "or infinite inputs" if first else
             f"it was finite for {epoch * len(losses) + i} batch"
             f"{'es' if epoch * len(losses) + i > 1 else ''} before, so training diverged: "
             f"{hint}")  # fmt: skip
    return (f"{desc}: training stopped, the loss became {float(losses[i])} at epoch {epoch + 1} "
            f"of {num_epochs}, batch {i + 1} of {len(losses)}. Likely cause: {cause}. The "
            "model's weights may be non-finite now: build it again before retraining. "
            "Nothing was cached.")  # fmt: skip


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
    hint: str,
) -> History:
    """Shuffle, slice, step, average; report through tqdm; survive KeyboardInterrupt."""
    torch.manual_seed(seed)  # sampling inside the step (VAE noise, GAN noise) is seeded too
    order_rng = torch.Generator().manual_seed(seed)
    x = x.to(device)
    n, n_batches = len(x), math.ceil(len(x) / batch_size)
    history = History()
    bar = _Progress(num_epochs * n_batches, desc, progress)
    line = f"{desc}: stopped by an error"
    start = time.perf_counter()
    # images per batch, to weight the batch means (the last batch may be smaller)
    sizes = torch.full((n_batches,), float(batch_size), dtype=torch.float64)
    sizes[-1] = n - (n_batches - 1) * batch_size
    try:
        for epoch in range(num_epochs):
            order = torch.randperm(n, generator=order_rng).to(device)
            batch_terms: list[dict[str, Tensor]] = []
            for i in range(n_batches):
                idx = order[i * batch_size : (i + 1) * batch_size]
                terms = step(x.index_select(0, idx))  # = x[idx]; index_select is a faster copy
                # keep each batch's values on the device and add them up after the epoch:
                # no extra tensor operations and no device sync per batch
                batch_terms.append({k: v.detach() for k, v in terms.items()})
                bar.update(terms["loss"].detach() if i % 50 == 0 else None)
            values = {k: torch.stack([t[k] for t in batch_terms]).cpu().double()
                      for k in batch_terms[0]}  # fmt: skip
            if not bool(torch.isfinite(values["loss"]).all()):  # one check per epoch, on CPU
                line = f"{desc}: stopped at epoch {epoch + 1}, the loss is not finite"
                raise NonFiniteLossError(_non_finite(desc, values["loss"], epoch, num_epochs,
                                                     hint))  # fmt: skip
            means = {k: float(v @ sizes) / n for k, v in values.items()}
            history.loss.append(means.pop("loss"))
            for k, v in means.items():
                history.terms.setdefault(k, []).append(v)
            bar.epoch(history.loss[-1])
        history.seconds = time.perf_counter() - start
        line = summary(desc, history)
    except KeyboardInterrupt:
        history.interrupted = True
        history.seconds = time.perf_counter() - start
        line = summary(desc, history, planned=num_epochs)
        print(f"Training interrupted after {len(history.loss)} complete epoch(s); the model "
              "keeps the weights learned so far.", flush=True)  # fmt: skip
    finally:
        history.seconds = time.perf_counter() - start
        bar.finish(line)
    return history


def _check_fit(model: Any, x: Any, who: str, num_epochs: Any, batch_size: Any, lr: Any,
               seed: Any) -> None:  # fmt: skip
    checks.module(model, "model", who)
    checks.training_data(x, who)
    checks.positive_int(num_epochs, "num_epochs", who)
    checks.positive_int(batch_size, "batch_size", who)
    checks.non_negative(lr, "lr", who)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{who}: seed must be an int, got {seed!r}.")


def _unpack(out: Any) -> tuple[Tensor, dict[str, Tensor]]:
    """``loss`` or ``(loss, {"name": term})`` from a loss function, or a TypeError."""
    loss, terms = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
    if not isinstance(loss, Tensor) or loss.dim() != 0 or not isinstance(terms, dict):
        got = (f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, Tensor)
               else type(out).__name__)  # fmt: skip
        raise TypeError(
            "loss_fn(model, batch) must return a scalar tensor (for example "
            f"F.mse_loss(model(x), x), or a per-image loss followed by .mean()), or "
            f"(loss, {{'name': term, ...}}); got {got}."
        )
    if not all(isinstance(v, Tensor) for v in terms.values()):
        raise TypeError("The terms that loss_fn returns must be tensors: return (loss, "
                        "{'name': tensor, ...}), without .item().")  # fmt: skip
    return loss, terms


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
    Images (N, 1, H, W) must be floats in [0, 1]. The model trains on its own device and is
    left in eval mode. A NaN or infinite loss raises ``NonFiniteLossError``.
    """
    _check_fit(model, x, "aelib.fit", num_epochs, batch_size, lr, seed)
    checks.function(loss_fn, "loss_fn", "aelib.fit")
    checks.non_negative(weight_decay, "weight_decay", "aelib.fit")
    device = device_of(model)
    opt = make_adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()

    def step(xb: Tensor) -> dict[str, Tensor]:
        loss, terms = _unpack(loss_fn(model, xb))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss, **terms}

    hint = f"lower the learning rate (lr={lr:g} now: try lr={lr / 10:g})"
    try:
        return _loop(x, step, num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                     device=device, progress=progress, desc=desc or type(model).__name__,
                     hint=hint)  # fmt: skip
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
    BCE(D(G(z)), 1). Logged terms: ``d_loss``, ``g_loss``, and ``d_real`` = mean D(x) and
    ``d_fake`` = mean D(G(z)) as probabilities, both from the discriminator's forward pass
    that ``d_loss`` uses, before D's update: the same D judges both, so the logged gap
    D(real) - D(fake) is the one D was trained on in that step.
    """
    _check_fit(gan, x, "aelib.fit_gan", num_epochs, batch_size, lr, seed)
    if not (hasattr(gan, "generator") and hasattr(gan, "discriminator")
            and hasattr(gan.generator, "latent_dims")):  # fmt: skip
        raise TypeError("aelib.fit_gan expects a module with .generator (which has "
                        ".latent_dims) and .discriminator, like aelib.models.GAN; got "
                        f"{type(gan).__name__}.")  # fmt: skip
    gen, disc = gan.generator, gan.discriminator
    device = device_of(gan)
    opt_g = make_adam(gen.parameters(), lr=lr, betas=betas)
    opt_d = make_adam(disc.parameters(), lr=lr, betas=betas)
    gan.train()

    def step(xb: Tensor) -> dict[str, Tensor]:
        b = len(xb)
        ones, zeros = xb.new_ones(b), xb.new_zeros(b)
        fake = gen(torch.randn(b, gen.latent_dims, device=xb.device))
        real_logit, fake_logit = disc(xb), disc(fake.detach())  # D's pass, before its update
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, ones)
                  + F.binary_cross_entropy_with_logits(fake_logit, zeros))  # fmt: skip
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        with frozen(disc):  # G's step needs no gradients for D's weights: skip computing them
            g_loss = F.binary_cross_entropy_with_logits(disc(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        return {"loss": g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": torch.sigmoid(real_logit).mean(),  # both from the pass d_loss uses
                "d_fake": torch.sigmoid(fake_logit).mean()}  # fmt: skip

    hint = f"lower the learning rate (lr={lr:g} now: try lr={lr / 10:g})"
    try:
        return _loop(x, step, num_epochs=num_epochs, batch_size=batch_size, seed=seed,
                     device=device, progress=progress, desc=desc or "GAN", hint=hint)
    finally:
        gan.eval()
