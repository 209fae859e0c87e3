"""Figures the notebooks share: image grids, reconstructions, latent scatter, manifold, curves.

Everything here only draws: tensors are moved to the CPU and detached first, so the same
calls work for models trained on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from . import checks
from .runtime import device_of

TAB10 = plt.get_cmap("tab10")


def to_numpy_images(x: Tensor) -> np.ndarray:
    """(B, 1, H, W) or (B, H*W) tensor, any device -> (B, H, W) float array."""
    checks.image_like(x, "x", "aelib.plots")
    x = x.detach().to("cpu", torch.float32)
    if x.dim() == 2:  # (B, 784) -> (B, 28, 28)
        side = int(round(x.shape[1] ** 0.5))
        x = x.reshape(-1, side, side)
    return x.reshape(x.shape[0], x.shape[-2], x.shape[-1]).numpy()


def image_grid(x: Tensor, nrow: int = 8, pad: int = 1, value: float = 1.0) -> np.ndarray:
    """Tile a batch of images into one 2-D array, ``nrow`` images per row (01)."""
    imgs = to_numpy_images(x)
    b, h, w = imgs.shape
    rows = -(-b // nrow)
    grid = np.full((rows * (h + pad) - pad, nrow * (w + pad) - pad), value, dtype=np.float32)
    for i, img in enumerate(imgs):
        r, c = divmod(i, nrow)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return grid


def show_images(
    x: Tensor,
    nrow: int = 8,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    size: float = 1.0,
) -> Figure:
    """A row-major grid of images, optionally one title each (01)."""
    imgs = to_numpy_images(x)
    rows = -(-len(imgs) // nrow)
    height = rows * size * (1.25 if titles else 1.0)
    fig, axes = plt.subplots(rows, nrow, figsize=(nrow * size, height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_reconstructions(
    x: Tensor, x_hat: Tensor, n: int = 10, labels: Sequence[str] = ("input x", "output x_hat")
) -> Figure:
    """Inputs on top, their reconstructions below (02)."""
    return plot_image_rows({labels[0]: x, labels[1]: x_hat}, n=n)


def plot_latent(
    codes: Tensor,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    s: float = 2.0,
    alpha: float = 0.5,
    title: str | None = None,
) -> Axes:
    """Scatter 2-D codes coloured by class, with a legend of class names (02)."""
    checks.points(codes, "codes", "plot_latent", dims=2)
    labels is None or checks.labels(labels, len(codes), "labels", "plot_latent")
    z = codes.detach().to("cpu", torch.float32).numpy()
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latent draws 2-D codes shaped (N, 2); got {z.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, alpha=alpha, color="0.3", linewidths=0)
    else:
        y = labels.detach().cpu().numpy()
        for k in np.unique(y):
            name = class_names[k] if class_names is not None else str(k)
            m = y == k
            ax.scatter(z[m, 0], z[m, 1], s=s, alpha=alpha, color=TAB10(int(k) % 10),
                       label=name, linewidths=0)  # fmt: skip
        leg = ax.legend(markerscale=4 / max(s, 0.5) * 2, fontsize=8, loc="center left",
                        bbox_to_anchor=(1.0, 0.5), frameon=False)  # fmt: skip
        for h in leg.legend_handles:
            h.set_alpha(1.0)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def latent_grid(
    z1_range: tuple[float, float], z2_range: tuple[float, float], n: int = 15
) -> Tensor:
    """n*n codes on a regular grid, row-major with z2 decreasing down the rows (02)."""
    z1 = torch.linspace(*z1_range, n)
    z2 = torch.linspace(*z2_range, n).flip(0)  # top row = largest z2, like a plot's y axis
    g2, g1 = torch.meshgrid(z2, z1, indexing="ij")
    return torch.stack([g1.reshape(-1), g2.reshape(-1)], dim=1)  # (n*n, 2)


def normal_quantile_grid(n: int = 15, eps: float = 0.05) -> Tensor:
    """n*n codes at the quantiles of N(0, 1) in each direction, as in Kingma & Welling (04)."""
    p = torch.linspace(eps, 1 - eps, n, dtype=torch.float64)
    q = (torch.special.ndtri(p)).float()
    g2, g1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([g1.reshape(-1), g2.reshape(-1)], dim=1)


@torch.no_grad()
def decode(decoder: Callable[[Tensor], Tensor], z: Tensor, batch_size: int = 4096) -> Tensor:
    """Decode codes on the decoder's own device; return CPU images."""
    checks.points(z, "z", "aelib.plots.decode")
    device = device_of(decoder)
    was_training = getattr(decoder, "training", False)
    if hasattr(decoder, "eval"):
        decoder.eval()
    try:
        outs = [decoder(chunk.to(device)).cpu() for chunk in z.split(batch_size)]
    finally:
        if was_training:
            decoder.train()
    return torch.cat(outs)


def plot_manifold(
    decoder: Callable[[Tensor], Tensor],
    z: Tensor | None = None,
    z1_range: tuple[float, float] = (-3.0, 3.0),
    z2_range: tuple[float, float] = (-3.0, 3.0),
    n: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Decode an n x n grid of codes (``z`` or a regular grid over the ranges) into one image."""
    grid_z = latent_grid(z1_range, z2_range, n) if z is None else z
    imgs = decode(decoder, grid_z)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    extent = None if z is not None else (*z1_range, *z2_range)
    ax.imshow(image_grid(imgs, nrow=n, pad=0), cmap="gray", vmin=0, vmax=1, extent=extent)
    if extent is None:
        ax.axis("off")
    else:
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def plot_history(history, keys: Sequence[str] | None = None, ax: Axes | None = None,
                 title: str | None = None) -> Axes:  # fmt: skip
    """Per-epoch loss (and any logged terms named in ``keys``) against the epoch (02)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    series = {"loss": history.loss} if keys is None else {}
    for k in keys or []:
        series[k] = history.loss if k == "loss" else history.terms[k]
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss")
    if len(series) > 1:
        ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return ax


def plot_image_rows(rows: dict[str, Tensor], n: int = 10, size: float = 0.9) -> Figure:
    """One labelled row per entry, e.g. {"input x": x, "k = 2": x_hat_2, ...} (01, 02)."""
    arrays = {label: to_numpy_images(t[:n]) for label, t in rows.items()}
    n = min(n, *(len(a) for a in arrays.values()))
    fig, axes = plt.subplots(len(arrays), n, figsize=(n * size + 0.8, len(arrays) * size + 0.2),
                             squeeze=False)  # fmt: skip
    for r, (label, imgs) in enumerate(arrays.items()):
        for c, ax in enumerate(axes[r]):
            ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.3)
    return fig
