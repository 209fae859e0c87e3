"""Figures the notebooks share: image grids, reconstructions, latent scatter, manifold, curves.

Everything here only draws: tensors are moved to the CPU and detached first, so the same
calls work for models trained on a GPU. The defaults follow CONTRIBUTING.md's figure rules:
every axis labelled with its quantity, classes coloured with ``CLASS_PALETTE`` and named in
a legend outside the axes (``LEGEND_FONTSIZE`` points), row titles on image rows, loss axes
that start at 0 unless the figure says why not, and colour bars with a label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colorbar import Colorbar
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from . import checks
from .runtime import device_of

# Petroff's 10-colour sequence (M. A. Petroff, "Accessible Color Sequences for Data
# Visualization", arXiv:2107.02270; matplotlib >= 3.10 ships it as the style "petroff10"),
# chosen under colour-vision-deficiency simulation. Measured in tests/test_plots.py: the
# smallest CIEDE2000 distance between two of its colours is 17.3 with normal vision and
# 11.9 / 12.6 / 13.3 under simulated protanopia / deuteranopia / tritanopia (Machado et al.
# 2009, severity 1); matplotlib's default tab10 drops to 1.3 under protanopia.
# Class k always gets colour k, in every notebook.
CLASS_PALETTE: tuple[str, ...] = (
    "#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6",
    "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd",
)  # fmt: skip
CLASS_CMAP = ListedColormap(CLASS_PALETTE, name="aelib_classes")
LEGEND_FONTSIZE = 10  # points; at the notebooks' 80 dpi that is 11 pixels
LEGEND_MARKER_PT = 7.0  # diameter of a legend marker in points, whatever the scatter's size
LATENT_LABELS = ("$z_1$", "$z_2$")


def class_color(k: int) -> str:
    """The colour of class ``k`` in every figure (02)."""
    return CLASS_PALETTE[int(k) % len(CLASS_PALETTE)]


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


def _bare(ax: Axes) -> None:
    """No ticks and no frame, but keep the axis labels (row titles live there)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _check_titles(titles: Sequence[str] | None, count: int, what: str) -> None:
    if titles is not None and len(titles) != count:
        unit = {"row_titles": "row", "col_titles": "column"}[what]
        raise ValueError(f"{what}: got {len(titles)} titles for {count} {unit}s; pass one "
                         f"title per {unit}.")  # fmt: skip


def show_images(
    x: Tensor,
    nrow: int = 8,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    size: float = 1.0,
    row_titles: Sequence[str] | None = None,
    col_titles: Sequence[str] | None = None,
) -> Figure:
    """A row-major grid of images; row titles on the left, column titles on top (01).

    ``titles`` (one per image) is kept for short, different captions; a caption that only
    repeats the row's or the column's name belongs in ``row_titles`` or ``col_titles``.
    """
    imgs = to_numpy_images(x)
    rows = -(-len(imgs) // nrow)
    _check_titles(row_titles, rows, "row_titles")
    _check_titles(col_titles, nrow, "col_titles")
    height = rows * size * (1.25 if titles else 1.0) + (0.3 if col_titles else 0.0)
    width = nrow * size + (1.2 if row_titles else 0.0)
    fig, axes = plt.subplots(rows, nrow, figsize=(width, height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        _bare(ax)
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    for r, label in enumerate(row_titles or []):
        axes[r, 0].set_ylabel(label, fontsize=10, rotation=0, ha="right", va="center")
    for c, label in enumerate(col_titles or []):
        axes[0, c].set_title(label, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(pad=0.3)
    return fig


def plot_reconstructions(
    x: Tensor, x_hat: Tensor, n: int = 10, labels: Sequence[str] = ("input x", "output x_hat")
) -> Figure:
    """Inputs on top, their reconstructions below (02)."""
    return plot_image_rows({labels[0]: x, labels[1]: x_hat}, n=n)


def class_legend(ax: Axes, classes: Sequence[int], class_names: Sequence[str] | None = None,
                 marker: str = "o", title: str | None = "class") -> Legend:
    """A legend of class colours to the right of ``ax``, outside it, so it hides no point (02)."""
    handles = [Line2D([], [], ls="", marker=marker, ms=LEGEND_MARKER_PT, mew=0,
                      color=class_color(k),
                      label=class_names[k] if class_names is not None else str(k))
               for k in classes]  # fmt: skip
    leg = ax.legend(handles=handles, fontsize=LEGEND_FONTSIZE, title=title,
                    title_fontsize=LEGEND_FONTSIZE, loc="center left",
                    bbox_to_anchor=(1.02, 0.5), frameon=False, handletextpad=0.3,
                    borderaxespad=0.0, alignment="left")  # fmt: skip
    return leg


def plot_latent(
    codes: Tensor,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    s: float = 2.0,
    alpha: float = 0.5,
    title: str | None = None,
    axis_labels: tuple[str, str] = LATENT_LABELS,
    legend: bool = True,
) -> Axes:
    """Scatter 2-D codes coloured by class (``CLASS_PALETTE``), with a legend of class names (02).

    ``axis_labels`` names the two coordinates, e.g. ``(r"$\\mu_1$", r"$\\mu_2$")`` for a VAE's
    means; the legend sits outside the axes, to the right (``legend=False`` leaves it out).
    """
    checks.points(codes, "codes", "plot_latent", dims=2)
    labels is None or checks.labels(labels, len(codes), "labels", "plot_latent")
    z = codes.detach().to("cpu", torch.float32).numpy()
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latent draws 2-D codes shaped (N, 2); got {z.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=s, alpha=alpha, color="0.3", linewidths=0)
    else:
        y = labels.detach().cpu().numpy()
        if len(y) != len(z):
            raise ValueError(f"plot_latent: {len(z)} codes but {len(y)} labels; pass one "
                             "label per code.")  # fmt: skip
        classes = [int(k) for k in np.unique(y)]
        if class_names is not None and max(classes) >= len(class_names):
            raise ValueError(f"plot_latent: label {max(classes)} has no name in class_names "
                             f"({len(class_names)} names).")  # fmt: skip
        for k in classes:
            m = y == k
            name = class_names[k] if class_names is not None else str(k)
            ax.scatter(z[m, 0], z[m, 1], s=s, alpha=alpha, color=class_color(k), label=name,
                       linewidths=0)  # fmt: skip
        if legend:
            class_legend(ax, classes, class_names)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
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


@torch.no_grad()
def nearest_code_labels(z: Tensor, codes: Tensor, labels: Tensor,
                        max_distance: float | None = None) -> Tensor:
    """The label of the nearest of ``codes`` for each row of ``z``; -1 where none is within
    ``max_distance`` (for ``plot_manifold``'s ``tile_labels``; 02)."""
    z = z.detach().to("cpu", torch.float32)
    codes = codes.detach().to("cpu", torch.float32)
    labels = labels.detach().cpu()
    if len(codes) != len(labels):
        raise ValueError(f"nearest_code_labels: {len(codes)} codes but {len(labels)} labels.")
    dist, idx = zip(*(torch.cdist(chunk, codes).min(dim=1) for chunk in z.split(256)))
    out = labels[torch.cat(idx)].clone()
    if max_distance is not None:
        out[torch.cat(dist) > max_distance] = -1
    return out


def manifold_grid(
    z1_range: tuple[float, float], z2_range: tuple[float, float], n: int = 15
) -> Tensor:
    """The n*n codes ``plot_manifold`` decodes without ``z``: the centres of n x n equal tiles
    that exactly cover the ranges, in ``latent_grid``'s order (02)."""
    def inset(span: tuple[float, float]) -> tuple[float, float]:
        half = (span[1] - span[0]) / n / 2
        return span[0] + half, span[1] - half

    return latent_grid(inset(z1_range), inset(z2_range), n)


def _grid_axes(z: Tensor, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Column values of z1 and row values of z2 if ``z`` is an n x n product grid, else None."""
    if len(z) != n * n:
        return None
    g = z.detach().to("cpu", torch.float64).reshape(n, n, 2).numpy()
    z1, z2 = g[0, :, 0], g[:, 0, 1]
    tol = 1e-6 * max(1.0, float(np.abs(g).max()))
    if np.abs(g[..., 0] - z1[None, :]).max() > tol or np.abs(g[..., 1] - z2[:, None]).max() > tol:
        return None
    return z1, z2


def _uniform(v: np.ndarray) -> bool:
    d = np.diff(v)
    return len(v) > 1 and bool(np.allclose(d, d[0], rtol=1e-4, atol=0))


def plot_manifold(
    decoder: Callable[[Tensor], Tensor],
    z: Tensor | None = None,
    z1_range: tuple[float, float] = (-3.0, 3.0),
    z2_range: tuple[float, float] = (-3.0, 3.0),
    n: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    axis_labels: tuple[str, str] = LATENT_LABELS,
    tile_labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    legend: bool = True,
) -> Axes:
    """Decode an n x n grid of codes (``z`` or a regular grid over the ranges) into one image (02).

    The axes are in code units, like ``plot_latent``'s: each tile is centred on the code it
    shows. Without ``z``, the n x n tiles exactly cover ``z1_range`` x ``z2_range`` and the
    codes are their centres. A regular ``z`` gets linear axes; another product grid, such as
    ``normal_quantile_grid``, gets ticks at its tiles, labelled with their codes).
    ``tile_labels`` (one class per tile, -1 for none; e.g. from ``nearest_code_labels`` or a
    classifier), in the order of ``z`` or ``manifold_grid(z1_range, z2_range, n)``, frames
    each tile in its class colour, with a class legend.
    """
    grid_z = manifold_grid(z1_range, z2_range, n) if z is None else z
    if tile_labels is not None and len(tile_labels) != len(grid_z):
        raise ValueError(f"plot_manifold: {len(tile_labels)} tile_labels for {len(grid_z)} "
                         "tiles; pass one class per decoded code (-1 for none).")  # fmt: skip
    imgs = decode(decoder, grid_z)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5) if tile_labels is not None else (5, 5),
                             layout="constrained")  # fmt: skip
    axes_values = _grid_axes(grid_z, n)
    extent = None
    if axes_values is not None and _uniform(axes_values[0]) and _uniform(axes_values[1]):
        z1, z2 = axes_values
        h1, h2 = (z1[1] - z1[0]) / 2, (z2[0] - z2[1]) / 2  # half a tile: tiles centred on codes
        extent = (z1[0] - h1, z1[-1] + h1, z2[-1] - h2, z2[0] + h2)
    im = ax.imshow(image_grid(imgs, nrow=n, pad=0), cmap="gray", vmin=0, vmax=1, extent=extent)
    if axes_values is None:
        _bare(ax)  # arbitrary codes: no axis to label
    else:
        if extent is None:  # non-uniform product grid: ticks at some tiles, labelled with z
            side = imgs.shape[-1]
            picks = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
            centres = picks * side + (side - 1) / 2
            ax.set_xticks(centres, [f"{axes_values[0][i]:.2g}" for i in picks])
            ax.set_yticks(centres, [f"{axes_values[1][i]:.2g}" for i in picks])
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
    if tile_labels is not None:
        _frame_tiles(ax, im.get_extent(), n, tile_labels.detach().cpu().numpy().astype(int))
        classes = sorted({int(k) for k in tile_labels.tolist() if k >= 0})
        if legend and classes:
            class_legend(ax, classes, class_names, marker="s")
    if title:
        ax.set_title(title)
    return ax


def _frame_tiles(ax: Axes, extent: Sequence[float], n: int, tile_labels: np.ndarray) -> None:
    """A frame in its class colour around each tile whose label is >= 0."""
    left, right, bottom, top = extent
    w, h = (right - left) / n, (top - bottom) / n
    inset = 0.06  # of a tile: frames of neighbouring tiles stay apart
    boxes, colors = [], []
    for i, k in enumerate(tile_labels):
        if k < 0:
            continue
        r, c = divmod(i, n)
        boxes.append(Rectangle((left + (c + inset) * w, top - (r + 1 - inset) * h),
                               (1 - 2 * inset) * w, (1 - 2 * inset) * h))  # fmt: skip
        colors.append(class_color(k))
    ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor=colors, linewidth=1.6))


def plot_history(history, keys: Sequence[str] | None = None, ax: Axes | None = None,
                 title: str | None = None, ylabel: str | None = None,
                 from_zero: bool = True, why_not_zero: str | None = None) -> Axes:  # fmt: skip
    """Per-epoch loss (and any logged terms named in ``keys``) against the epoch (02).

    ``ylabel`` names the quantity and its unit, e.g. ``"loss (MSE per pixel)"`` (default:
    the term's name). The y axis includes 0, so a small change does not look large; to zoom
    in instead, pass ``from_zero=False`` with ``why_not_zero``, which the figure then shows.
    """
    if not from_zero and not why_not_zero:
        raise ValueError("plot_history(from_zero=False) needs why_not_zero='...': a y axis "
                         "that does not start at 0 exaggerates changes, so the figure must "
                         "say why it zooms in.")  # fmt: skip
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    series = {"loss": history.loss} if keys is None else {}
    for k in keys or []:
        if k != "loss" and k not in history.terms:
            raise KeyError(f"plot_history: no term {k!r} in the history; it has "
                           f"{['loss', *history.terms]}.")  # fmt: skip
        series[k] = history.loss if k == "loss" else history.terms[k]
    lines = []
    for name, values in series.items():
        lines += ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
    if ylabel is None:
        ylabel = "training loss (mean per epoch)" if keys is None else (
            next(iter(series)) if len(series) == 1 else "value per epoch")  # fmt: skip
    ax.set_ylabel(ylabel)
    if from_zero:
        # 0 joins the data limits; sticky edges keep autoscaling from padding below it, and
        # lines added later (a reference level) still rescale the axis.
        ax.update_datalim([(1, 0.0)], updatex=False)
        for line in lines:
            line.sticky_edges.y.append(0.0)
        ax.autoscale_view()
    else:
        ax.set_xlabel(f"epoch\n(y axis zoomed, not from 0: {why_not_zero})")
    if len(series) > 1:
        ax.legend(frameon=False, fontsize=LEGEND_FONTSIZE)
    if title:
        ax.set_title(title)
    return ax


def add_colorbar(mappable, ax: Axes, label: str, **kw) -> Colorbar:
    """A colour bar next to ``ax`` that says what its colours measure (06)."""
    if not label or not label.strip():
        raise ValueError("add_colorbar needs a label: the quantity (and unit) the colours show.")
    cbar = ax.figure.colorbar(mappable, ax=ax, **kw)
    cbar.set_label(label, fontsize=LEGEND_FONTSIZE)
    return cbar


def plot_image_rows(rows: dict[str, Tensor], n: int = 10, size: float = 0.9,
                    col_titles: Sequence[str] | None = None,
                    title: str | None = None) -> Figure:  # fmt: skip
    """One row per entry, its title on the left, e.g. {"input x": x, "k = 2": x_hat_2} (01, 02).

    ``col_titles`` (e.g. the class names of the columns) go above the top row.
    """
    arrays = {label: to_numpy_images(t[:n]) for label, t in rows.items()}
    n = min(n, *(len(a) for a in arrays.values()))
    if col_titles is not None:
        col_titles = list(col_titles)[:n]
        _check_titles(col_titles, n, "col_titles")
    height = len(arrays) * size + 0.2 + (0.3 if col_titles else 0.0) + (0.3 if title else 0.0)
    fig, axes = plt.subplots(len(arrays), n, figsize=(n * size + 1.2, height), squeeze=False)
    for r, (label, imgs) in enumerate(arrays.items()):
        for c, ax in enumerate(axes[r]):
            ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
            _bare(ax)
        axes[r, 0].set_ylabel(label, fontsize=10, rotation=0, ha="right", va="center")
    for c, name in enumerate(col_titles or []):
        axes[0, c].set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout(pad=0.3)
    return fig
