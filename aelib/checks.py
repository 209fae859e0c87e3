"""The few input checks that aelib's public functions share (bad input -> one clear sentence).

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (wrong shape,
values, device) whose message names the argument, says what was expected and what was
given, and how to fix it. The shape checks read no tensor data, so models can run them on
every batch; the value checks read the data once and belong at the entry of a function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def tensor(x: Any, name: str, who: str, what: str = "a torch.Tensor") -> Tensor:
    """``x`` itself if it is a torch.Tensor, else a TypeError that names it."""
    if not isinstance(x, Tensor):
        hint = f" Convert it with torch.as_tensor({name})." if hasattr(x, "__len__") else ""
        raise TypeError(f"{who} expects {what} as {name}, got {type(x).__name__}.{hint}")
    return x


def _same_place(x: Tensor, like: Tensor | None, name: str, who: str) -> None:
    """Dtype and device of ``x`` agree with the model's weights ``like`` (no data read)."""
    if not x.is_floating_point():
        raise TypeError(
            f"{who}: {name} has dtype {x.dtype}; aelib expects floating-point values"
            + (f" in [0, 1]: use {name}.float() / 255." if x.dtype == torch.uint8
               else f": use {name}.float().")  # fmt: skip
        )
    if like is None:
        return
    if x.device != like.device:
        raise ValueError(
            f"{who}: {name} is on {x.device} but the model is on {like.device}: use "
            f"{name}.to({str(like.device)!r}) (or move the model with .to(device))."
        )
    if x.dtype != like.dtype:
        raise TypeError(
            f"{who}: {name} has dtype {x.dtype} but the model's weights are {like.dtype}: use "
            f"{name}.to({like.dtype})."
        )


def check_images(x: Tensor, s_img: int, who: str, like: Tensor | None = None) -> Tensor:
    """Flatten a batch of images to (B, s_img*s_img), or raise an error that says why.

    Accepted: (B, 1, s_img, s_img) and (B, s_img*s_img). ``like`` (a weight of the model)
    adds checks of dtype and device.
    """
    n = s_img * s_img
    tensor(x, "x", who, "a torch.Tensor of images")
    shape = tuple(x.shape)
    if not ((x.dim() == 4 and shape[1:] == (1, s_img, s_img)) or (x.dim() == 2 and shape[1] == n)):
        hint = ""
        if shape in ((s_img, s_img), (n,), (1, s_img, s_img)):
            hint = " Add the batch dimension with x.unsqueeze(0)."
        elif x.dim() == 3 and shape[1:] == (s_img, s_img):
            hint = " Add the channel dimension with x.unsqueeze(1)."
        raise ValueError(
            f"{who} expects a batch of {s_img}x{s_img} images, shaped (B, 1, {s_img}, {s_img}) "
            f"or (B, {n}); got {shape}.{hint}"
        )
    _same_place(x, like, "x", who)
    return torch.flatten(x, start_dim=1)  # (B, 1, 28, 28) -> (B, 784)


def check_codes(z: Tensor, latent_dims: int, who: str, like: Tensor | None = None) -> Tensor:
    """Check a batch of latent codes is (B, latent_dims), or raise an error that says why."""
    tensor(z, "z", who, "a torch.Tensor of codes")
    if z.dim() != 2 or z.shape[1] != latent_dims:
        hint = " Add the batch dimension with z.unsqueeze(0)." if z.shape == (latent_dims,) else ""
        raise ValueError(
            f"{who} expects codes shaped (B, {latent_dims}); got {tuple(z.shape)}.{hint}"
        )
    _same_place(z, like, "z", who)
    return z


def image_batch(x: Any, name: str = "x", who: str = "aelib") -> Tensor:
    """A batch of images (N, 1, H, W) or (N, H*W): shape, float dtype, values in [0, 1].

    Reads the data once (one pass): for the entry of a function, not for every batch.
    """
    tensor(x, name, who, "a torch.Tensor of images")
    if x.dim() == 3 and x.shape[1] == x.shape[2]:
        raise ValueError(
            f"{who}: {name} has shape {_shape(x)}; aelib expects images as (N, 1, "
            f"{x.shape[1]}, {x.shape[2]}): use {name}.unsqueeze(1)."
        )
    if x.dim() not in (2, 4) or (x.dim() == 4 and x.shape[1] != 1) or len(x) == 0:
        raise ValueError(
            f"{who}: {name} has shape {_shape(x)}; aelib expects a non-empty batch of "
            "grayscale images shaped (N, 1, H, W), or flattened (N, H*W)."
        )
    _same_place(x, None, name, who)
    values_in_unit_range(x, name, who)
    return x


def image_like(x: Any, name: str, who: str) -> Tensor:
    """Images to show: (B, 1, H, W), (B, H, W), (B, H*W) with a square H*W, or one (1, H, W)."""
    tensor(x, name, who, "a torch.Tensor of images")
    shape = tuple(x.shape)
    square = x.dim() == 2 and round(shape[1] ** 0.5) ** 2 == shape[1]
    if not ((x.dim() == 4 and shape[1] == 1) or x.dim() == 3 or square) or x.numel() == 0:
        raise ValueError(
            f"{who}: {name} has shape {shape}; expected images shaped (B, 1, H, W), (B, H, W) "
            "or (B, H*W)" + (": use x[:, :1] for the first channel." if x.dim() == 4 else ".")
        )
    return x


def single_image(x: Any, name: str, who: str, s_img: int = 28) -> Tensor:
    """One image, any of (1, 1, s, s), (1, s, s), (s, s), (s*s,)."""
    tensor(x, name, who, "a torch.Tensor holding one image")
    if x.numel() != s_img * s_img:
        raise ValueError(f"{who}: {name} has shape {_shape(x)}; expected one {s_img}x{s_img} "
                         f"image, for example ds.x_test[0] of shape (1, {s_img}, {s_img}).")
    return x


def values_in_unit_range(x: Tensor, name: str, who: str) -> None:
    """All values finite and in [0, 1] (pixel intensities), or a ValueError with the fix."""
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))  # NaN propagates into both
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(
            f"{who}: {name} contains NaN values; aelib expects pixel values in [0, 1]. Find "
            f"them with {name}.isnan().nonzero() and replace or drop those images."
        )
    if lo < 0.0 or hi > 1.0:
        fix = f"use {name} / 255" if hi > 1.0 and lo >= 0.0 and hi <= 255.0 else (
            f"rescale it, for example ({name} - {name}.min()) / ({name}.max() - {name}.min())")
        raise ValueError(
            f"{who}: {name} has values in [{lo:.4g}, {hi:.4g}]; aelib expects pixel values in "
            f"[0, 1]: {fix}."
        )


def training_data(x: Any, who: str) -> Tensor:
    """What ``fit`` accepts: a non-empty batch tensor; images are checked as images."""
    tensor(x, "x", who, "a torch.Tensor of training data")
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(
            f"{who}: training data must be a non-empty batch tensor (N, ...); got {_shape(x)}."
        )
    if (x.dim() == 4 and x.shape[1] == 1) or (x.dim() == 3 and x.shape[1] == x.shape[2]):
        return image_batch(x, "x", who)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{who}: x contains NaN or infinite values; remove them first.")
    return x


def positive_int(value: Any, name: str, who: str) -> int:
    """An int >= 1 (bools refused), or a TypeError/ValueError that names it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{who}: {name} must be an int >= 1, got {value!r}.")
    if value < 1:
        raise ValueError(f"{who}: {name} must be >= 1, got {value}.")
    return value


def non_negative(value: Any, name: str, who: str) -> float:
    """A finite float >= 0 (a learning rate, a weight decay)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}.")
    if not 0.0 <= float(value) < math.inf:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value}.")
    return float(value)


def module(m: Any, name: str, who: str) -> nn.Module:
    """A torch.nn.Module, or a TypeError that says what was given."""
    if not isinstance(m, nn.Module):
        raise TypeError(f"{who} expects a torch.nn.Module as {name}, got {type(m).__name__}.")
    return m


def function(fn: Any, name: str, who: str) -> Callable:
    """A callable, or a TypeError (a common slip: passing loss_fn(model, x) instead of loss_fn)."""
    if not callable(fn):
        raise TypeError(
            f"{who} expects a function as {name}, got {type(fn).__name__}: pass the function "
            f"itself ({name}=my_loss), not its result ({name}=my_loss(model, x))."
        )
    return fn


def labels(y: Any, n: int, name: str = "labels", who: str = "aelib") -> Tensor:
    """Integer class labels (N,) matching N items, or an error that says why."""
    tensor(y, name, who, "a torch.Tensor of class labels")
    if y.dim() != 1 or len(y) != n:
        raise ValueError(f"{who}: {name} must have shape ({n},), one label per point; got "
                         f"{_shape(y)}.")  # fmt: skip
    if y.is_floating_point() or y.is_complex():
        raise TypeError(f"{who}: {name} must hold integer classes; got {y.dtype}: use "
                        f"{name}.long().")  # fmt: skip
    return y


def points(z: Any, name: str, who: str, dims: int | None = None) -> Tensor:
    """Latent points (N, k) (k = ``dims`` if given), finite, float."""
    tensor(z, name, who, "a torch.Tensor of latent codes")
    if z.dim() != 2 or (dims is not None and z.shape[1] != dims):
        want = f"(N, {dims})" if dims is not None else "(N, k)"
        raise ValueError(f"{who}: {name} must have shape {want}; got {_shape(z)}.")
    _same_place(z, None, name, who)
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{who}: {name} contains NaN or infinite values.")
    return z
