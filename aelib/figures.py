"""The lecture's six diagrams in image/, drawn by code (``make figures``; every notebook).

``python -m aelib.figures image`` (re)draws all six into ``image/``. Every diagram uses the
same palette, font and sizes (defined once below), is drawn on a white canvas measured in
inches, and is checked before it is saved: no label may leave the canvas, overlap another
label or come within a few pixels of one. Rendering is deterministic (fixed size and dpi,
no randomness, no varying PNG metadata), so ``tests/test_figures.py`` can regenerate the
files and compare pixels.

Notation as in CONTRIBUTING.md: g encoder, h decoder, z the code (never h: the lecture's
over/undercomplete slide calls the hidden layer h), y = x_hat = h(g(x)), L(x, y). For the
VAE, branch 1 (g1) gives mu and branch 2 (g2) gives log sigma, sigma = exp(g2(x)), as in
``aelib.models.VarEncoder``; zeta ~ N(0, I) is the noise, and N's second argument is a
variance. The GAN's generator G takes noise z ~ N(0, I).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import matplotlib.text
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle
from matplotlib.path import Path as MplPath

# ---- one style for all six diagrams -------------------------------------------------------
DPI = 150
FONT = "DejaVu Sans"  # bundled with matplotlib: the same glyphs on every machine
SIZE = {"title": 19, "text": 17, "small": 15, "symbol": 23}
LINE = 2.5  # outlines and arrows, in points
PALETTE = {  # Okabe-Ito colours: distinguishable with colour-blindness, print well in grey
    "encoder": "#0072B2",  # g, the discriminator D (both map an image to a few numbers)
    "decoder": "#D55E00",  # h, the generator G (both map a few numbers to an image)
    "code": "#009E73",  # z, mu, sigma: the latent space
    "noise": "#E69F00",  # zeta, GAN noise: sampled, not computed
    "loss": "#CC79A7",  # loss terms
    "data": "#555555",  # x, images, neutral layers
    "ink": "#1A1A1A",  # text
}
RC = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": SIZE["text"],
    "mathtext.fontset": "dejavusans",
    "text.color": PALETTE["ink"],
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "image.interpolation": "nearest",
}
NAMES = (
    "over_and_undercomplete.png",
    "Encoders.png",
    "dimension_reduction.png",
    "auto-encoder.png",
    "auto-encoder-architecture.png",
    "var_encoder.png",
)
# The lecture's torchinfo table: parameters of the six Linear layers of the autoencoder.
LECTURE_PARAMS = (78_500, 5_050, 102, 150, 5_100, 79_184)
LECTURE_TOTAL = 168_086
CODE_SIZES = (50, 10, 2)  # dimension_reduction.png: reconstructions with k numbers
SHOW_CLASSES = (9, 1, 0)  # ankle boot, trouser, T-shirt/top: first test image of each


def tint(color: str, amount: float = 0.18) -> tuple[float, float, float]:
    """A light fill of ``color``: ``amount`` of it mixed into white."""
    return tuple(1.0 - amount * (1.0 - c) for c in to_rgb(color))


@contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults plus RC, whatever the user's matplotlibrc says."""
    with mpl.style.context("default"), mpl.rc_context(RC):
        yield


# ---- drawing primitives (coordinates in inches from the bottom-left corner) --------------
def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A white figure whose data coordinates are inches, without axes."""
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def text(ax: Axes, x: float, y: float, s: str, size: str = "text", **kw) -> None:
    """A label centred at (x, y) in one of the SIZE roles."""
    kw.setdefault("ha", "center")
    kw.setdefault("va", "center")
    ax.text(x, y, s, fontsize=SIZE[size], **kw)


def box(ax: Axes, x: float, y: float, w: float, h: float, label: str = "",
        color: str = PALETTE["data"], size: str = "text", dashed: bool = False) -> None:
    """A rounded box centred at (x, y), lightly filled, with a centred label."""
    ax.add_patch(FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.1",
        facecolor=tint(color), edgecolor=color, linewidth=LINE,
        linestyle=(0, (4, 2)) if dashed else "solid",
    ))  # fmt: skip
    if label:
        text(ax, x, y, label, size)


def trapezoid(ax: Axes, x0: float, x1: float, y: float, h0: float, h1: float,
              label: str = "", color: str = PALETTE["encoder"], size: str = "text") -> None:
    """A layer block from x0 (height h0) to x1 (height h1): narrowing = compressing."""
    corners = [(x0, y - h0 / 2), (x1, y - h1 / 2), (x1, y + h1 / 2), (x0, y + h0 / 2)]
    ax.add_patch(Polygon(corners, closed=True, facecolor=tint(color), edgecolor=color,
                         linewidth=LINE, joinstyle="round"))  # fmt: skip
    if label:
        text(ax, (x0 + x1) / 2, y, label, size)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float],
          color: str = PALETTE["ink"], dashed: bool = False, head: bool = True) -> None:
    """A straight arrow from ``start`` to ``end`` (dashed for loss connections)."""
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle="-|>" if head else "-", mutation_scale=22, color=color,
        linewidth=LINE, shrinkA=0, shrinkB=0,
        linestyle=(0, (4, 2)) if dashed else "solid", joinstyle="miter",
    ))  # fmt: skip


def polyline(ax: Axes, points: Sequence[tuple[float, float]], color: str,
             dashed: bool = False, head: bool = True) -> None:
    """Straight segments through ``points``; an arrow head on the last one."""
    xs, ys = zip(*points[:-1])
    ax.plot(xs, ys, color=color, linewidth=LINE, linestyle=(0, (4, 2)) if dashed else "-",
            solid_joinstyle="round", solid_capstyle="butt")  # fmt: skip
    arrow(ax, points[-2], points[-1], color, dashed=dashed, head=head)


def picture(ax: Axes, img: np.ndarray, x: float, y: float, size: float,
            color: str = PALETTE["data"]) -> None:
    """A grayscale image (values in [0, 1]) centred at (x, y), framed."""
    ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
              extent=(x - size / 2, x + size / 2, y - size / 2, y + size / 2), zorder=2)
    ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, fill=False,
                           edgecolor=color, linewidth=LINE, zorder=3))  # fmt: skip


# ---- a stand-in image for the schematic diagrams (no data needed) -------------------------
def _shirt_outline() -> np.ndarray:
    """A T-shirt silhouette in 28x28 pixel coordinates (x right, y down)."""
    return np.array([
        (9.5, 3), (11.5, 3), (14, 5.5), (16.5, 3), (18.5, 3), (25, 7.5), (22.5, 12.5),
        (19.5, 10.5), (19.5, 25), (8.5, 25), (8.5, 10.5), (5.5, 12.5), (3, 7.5),
    ])  # fmt: skip


def shirt_image(blur: int = 0) -> np.ndarray:
    """A 28x28 T-shirt like Fashion-MNIST's (bright on black); ``blur`` softens it like an
    autoencoder's reconstruction. Anti-aliased by 4x4 supersampling; no randomness."""
    sub = 4
    c = (np.arange(28 * sub) + 0.5) / sub
    xx, yy = np.meshgrid(c, c)
    inside = MplPath(_shirt_outline()).contains_points(np.c_[xx.ravel(), yy.ravel()])
    img = inside.reshape(28, sub, 28, sub).mean(axis=(1, 3))
    img = img * (0.55 + 0.35 * np.linspace(1.0, 0.6, 28))[:, None]  # fabric shading
    for _ in range(blur):
        kernel = np.array([1.0, 2.0, 1.0]) / 4.0
        img = np.apply_along_axis(np.convolve, 0, img, kernel, mode="same")
        img = np.apply_along_axis(np.convolve, 1, img, kernel, mode="same")
    return np.round(img * 255.0) / 255.0  # exact 8-bit levels: identical on every machine


# ---- parameter counts, from the real model --------------------------------------------------
def layer_table() -> list[tuple[int, int, int]]:
    """(in_features, out_features, parameters) for the six Linear layers of the lecture's
    Autoencoder, read from ``aelib.models`` and checked against the lecture's table."""
    from .models import Autoencoder, count_parameters

    model = Autoencoder(latent_dims=2, s_img=28, hdim=(100, 50))
    layers = [getattr(part, f"linear{i}") for part in (model.encoder, model.decoder)
              for i in (1, 2, 3)]  # fmt: skip
    table = [(lin.in_features, lin.out_features, sum(p.numel() for p in lin.parameters()))
             for lin in layers]  # fmt: skip
    counts = tuple(row[2] for row in table)
    if counts != LECTURE_PARAMS or count_parameters(model) != LECTURE_TOTAL:
        raise AssertionError(
            f"aelib.models.Autoencoder has {counts} parameters per layer "
            f"({count_parameters(model)} in total); the lecture's table says "
            f"{LECTURE_PARAMS} ({LECTURE_TOTAL})."
        )
    return table


# ---- the six diagrams -----------------------------------------------------------------------
def _network(ax: Axes, x0: float, sizes: Sequence[int], title: str, sizes_label: str,
             caption: str, spacing: float = 1.45) -> None:
    """Three fully connected layers x -> z -> x_hat as columns of nodes, edges g and h."""
    gap, r, yc = 0.34, 0.13, 1.78
    cols = [x0 + i * spacing for i in range(3)]
    ys = [[yc + (j - (n - 1) / 2) * gap for j in range(n)] for n in sizes]
    node_colors = (PALETTE["data"], PALETTE["code"], PALETTE["data"])
    edge_colors = (PALETTE["encoder"], PALETTE["decoder"])
    for i, color in enumerate(edge_colors):
        for ya in ys[i]:
            for yb in ys[i + 1]:
                ax.plot([cols[i], cols[i + 1]], [ya, yb], color=color, linewidth=1.4,
                        alpha=0.75, zorder=1)  # fmt: skip
    for col, column_ys, color in zip(cols, ys, node_colors):
        for y in column_ys:
            ax.add_patch(Circle((col, y), r, facecolor=tint(color, 0.35), edgecolor=color,
                                linewidth=LINE, zorder=2))  # fmt: skip
    for col, label in zip(cols, ("$x$", "$z$", r"$\hat{x}$")):
        text(ax, col, 0.42, label, "symbol")
    for i, (label, color) in enumerate(zip(("$g$", "$h$"), edge_colors)):  # the two maps
        text(ax, (cols[i] + cols[i + 1]) / 2, 0.42, label, "symbol", color=color)
    mid = cols[1]
    text(ax, mid, 4.1, title, "title", weight="bold")
    text(ax, mid, 3.67, sizes_label, "text")
    text(ax, mid, 3.27, caption, "small")


def draw_over_and_undercomplete() -> Figure:
    """The code z narrower than the input x (compresses) or wider (can copy).

    The lecture labels the hidden layer h; here h is the decoder (CONTRIBUTING.md), so the
    layer is the code z and the sizes are dim z and dim x, as in notebook 03.
    """
    fig, ax = canvas(8.6, 4.4)
    _network(ax, 0.95, (5, 2, 5), "Undercomplete", r"$\dim z < \dim x$", "compresses $x$")
    _network(ax, 5.05, (3, 7, 3), "Overcomplete", r"$\dim z > \dim x$",
             "can copy $x$ unless regularized")  # fmt: skip
    ax.plot([4.3, 4.3], [0.25, 3.0], color=PALETTE["data"], linewidth=1.2,
            linestyle=(0, (2, 3)))  # fmt: skip
    return fig


def draw_encoders() -> Figure:
    """Autoencoder, VAE and GAN in three aligned rows."""
    fig, ax = canvas(10.4, 4.6)
    cols = (2.75, 4.1, 5.45, 6.7, 8.05, 9.55)
    ys = (3.9, 2.4, 0.8)
    size, w = 0.78, 0.95  # image side, width of an encoder/decoder block
    shirt, soft = shirt_image(), shirt_image(blur=2)
    enc, dec, code = PALETTE["encoder"], PALETTE["decoder"], PALETTE["code"]
    for y, name in zip(ys, ("Autoencoder", "Variational\nautoencoder", "GAN")):
        text(ax, 0.15, y, name, "text", ha="left", weight="bold")

    def block(x: float, y: float, label: str, color: str, narrowing: bool) -> None:
        h0, h1 = (0.85, 0.4) if narrowing else (0.4, 0.85)
        trapezoid(ax, x - w / 2, x + w / 2, y, h0, h1, label, color, "symbol")

    def chain(y: float, edges: Sequence[float]) -> None:
        for a, b in zip(edges[::2], edges[1::2]):
            arrow(ax, (a, y), (b, y))

    # autoencoder: x -> g -> z -> h -> x_hat
    y, zc = ys[0], (cols[2] + cols[3]) / 2
    picture(ax, shirt, cols[0], y, size)
    block(cols[1], y, "$g$", enc, True)
    box(ax, zc, y, 0.7, 0.5, "$z$", code, "symbol")
    block(cols[4], y, "$h$", dec, False)
    picture(ax, soft, cols[5], y, size)
    chain(y, [cols[0] + size / 2, cols[1] - w / 2, cols[1] + w / 2, zc - 0.35, zc + 0.35,
              cols[4] - w / 2, cols[4] + w / 2, cols[5] - size / 2])  # fmt: skip
    # VAE: x -> g -> (mu, sigma) -> sample z -> h -> x_hat
    y = ys[1]
    picture(ax, shirt, cols[0], y, size)
    block(cols[1], y, "$g$", enc, True)
    box(ax, cols[2], y, 0.8, 0.5, r"$\mu, \sigma$", code, "text")
    box(ax, cols[3], y, 0.7, 0.5, "$z$", code, "symbol")
    text(ax, cols[3], y - 0.5, "sample", "small")
    block(cols[4], y, "$h$", dec, False)
    picture(ax, soft, cols[5], y, size)
    chain(y, [cols[0] + size / 2, cols[1] - w / 2, cols[1] + w / 2, cols[2] - 0.4,
              cols[2] + 0.4, cols[3] - 0.35, cols[3] + 0.35, cols[4] - w / 2,
              cols[4] + w / 2, cols[5] - size / 2])  # fmt: skip
    # GAN: noise -> G -> fake image; fake or real image -> D -> P(real)
    y, small, xc, dy = ys[2], 0.56, cols[2] + 0.05, 0.34
    box(ax, cols[0], y, 1.15, 0.5, "noise $z$", PALETTE["noise"], "small")  # G's input
    block(cols[1], y, "$G$", dec, False)
    picture(ax, soft, xc, y + dy, small)
    picture(ax, shirt, xc, y - dy, small)
    for yy, label in ((y + dy, "fake"), (y - dy, "real")):
        text(ax, xc + small / 2 + 0.1, yy, label, "small", ha="left")
        arrow(ax, (xc + small / 2 + 0.7, yy), (cols[4] - w / 2, y + 0.4 * (yy - y)))
    block(cols[4], y, "$D$", enc, True)
    text(ax, cols[5], y, "P(real)", "text")
    chain(y, [cols[0] + 0.575, cols[1] - w / 2, cols[4] + w / 2, cols[5] - 0.55])
    arrow(ax, (cols[1] + w / 2, y), (xc - small / 2, y + dy))
    return fig


def _pca_reconstructions(ds, code_sizes: Sequence[int], classes: Sequence[int],
                         n_fit: int = 5_000) -> tuple[np.ndarray, list[np.ndarray]]:
    """Test images of ``classes`` and their PCA reconstructions from k numbers each.

    PCA fitted on the first ``n_fit`` training images, in float64, from the eigenvectors of
    their covariance (symmetric: ``eigh``); single-threaded, which here is both faster (a
    784x784 problem) and independent of the machine's core count. Reconstructions are
    rounded to 8-bit levels so that float noise from another BLAS cannot change a pixel.
    """
    import torch

    n = min(n_fit, len(ds.x_train))
    x = ds.x_train[:n].reshape(n, -1).to(torch.float64)  # (n, 1, 28, 28) -> (n, 784)
    mean = x.mean(dim=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        centred = x - mean
        _, vecs = torch.linalg.eigh(centred.T @ centred / (n - 1))  # ascending eigenvalues
    finally:
        torch.set_num_threads(threads)
    directions = vecs.flip(1).T  # (784, 784), rows: principal directions, largest first
    picks = [int(torch.nonzero(ds.y_test == c)[0]) for c in classes]
    images = ds.x_test[picks].reshape(len(picks), -1).to(torch.float64)  # (m, 784)
    recons = []
    for k in code_sizes:
        v = directions[:k]  # (k, 784)
        z = (images - mean) @ v.T  # g: (m, 784) -> (m, k)
        x_hat = (z @ v + mean).clamp(0.0, 1.0)  # h: (m, k) -> (m, 784)
        recons.append(torch.round(x_hat * 255).numpy().reshape(-1, 28, 28) / 255.0)
    originals = torch.round(images * 255).numpy().reshape(-1, 28, 28) / 255.0
    return originals, recons


def draw_dimension_reduction(ds=None) -> Figure:
    """784 pixels -> k numbers -> 784 pixels, with real test images and PCA reconstructions."""
    if ds is None:
        ds = load_fashion_mnist()
    originals, recons = _pca_reconstructions(ds, CODE_SIZES, SHOW_CLASSES)
    fig, ax = canvas(9.75, 4.0)
    enc, dec, code = PALETTE["encoder"], PALETTE["decoder"], PALETTE["code"]
    # left: the schematic, tall bars for 784 numbers and a short one for k
    yc, tall, short, bw = 1.95, 2.6, 0.5, 0.34
    bars = ((0.55, tall, PALETTE["data"], "$x$", "784"), (2.05, short, code, "$z$", "$k$"),
            (3.55, tall, PALETTE["data"], r"$\hat{x}$", "784"))  # fmt: skip
    for x, h, color, name, n in bars:
        ax.add_patch(Rectangle((x - bw / 2, yc - h / 2), bw, h, facecolor=tint(color, 0.35),
                               edgecolor=color, linewidth=LINE))  # fmt: skip
        text(ax, x, yc + h / 2 + 0.22 if h < 1 else 3.58, name, "symbol")
        text(ax, x, yc - h / 2 - 0.2 if h < 1 else 0.35, n, "small")
    trapezoid(ax, 0.55 + bw / 2 + 0.08, 2.05 - bw / 2 - 0.08, yc, tall, short, "$g$", enc,
              "symbol")  # fmt: skip
    trapezoid(ax, 2.05 + bw / 2 + 0.08, 3.55 - bw / 2 - 0.08, yc, short, tall, "$h$", dec,
              "symbol")  # fmt: skip
    # right: test images and their reconstructions from k numbers
    size, step, x0, top = 0.88, 1.32, 4.85, 2.95
    columns = [(originals, "$x$", PALETTE["data"])]
    columns += [(r, f"$k = {k}$", dec) for r, k in zip(recons, CODE_SIZES)]
    for c, (imgs, head, color) in enumerate(columns):
        x = x0 + c * step
        text(ax, x, 3.65, head, "text")
        for r, img in enumerate(imgs):
            picture(ax, img, x, top - r * (size + 0.1), size, color)
    ax.plot([x0 + step / 2] * 2, [0.45, 3.4], color=PALETTE["data"], linewidth=1.2,
            linestyle=(0, (2, 3)))  # fmt: skip
    text(ax, x0 + 2 * step, 0.18, r"$\hat{x}$ from $k$ numbers (PCA)", "small")
    return fig


def draw_auto_encoder() -> Figure:
    """x -> encoder g -> z -> decoder h -> y = x_hat, and the loss L(x, y)."""
    fig, ax = canvas(9.6, 3.9)
    enc, dec, code, loss = (PALETTE[k] for k in ("encoder", "decoder", "code", "loss"))
    yc, size = 2.35, 1.25
    xi, xo = 0.95, 8.65
    picture(ax, shirt_image(), xi, yc, size)
    picture(ax, shirt_image(blur=2), xo, yc, size)
    text(ax, xi, yc + size / 2 + 0.3, "input $x$")
    text(ax, xo, yc + size / 2 + 0.3, r"output $y = \hat{x}$")
    trapezoid(ax, 1.95, 3.95, yc, 1.7, 0.55, "encoder $g$", enc)
    box(ax, 4.8, yc, 0.55, 0.55, "$z$", code, "symbol")
    text(ax, 4.8, yc + 0.6, "latent", "small")
    trapezoid(ax, 5.65, 7.65, yc, 0.55, 1.7, "decoder $h$", dec)
    arrow(ax, (xi + size / 2, yc), (1.95, yc))
    arrow(ax, (3.95, yc), (4.8 - 0.275, yc))
    arrow(ax, (4.8 + 0.275, yc), (5.65, yc))
    arrow(ax, (7.65, yc), (xo - size / 2, yc))
    text(ax, 4.8, 3.6, r"$y = h(g(x))$", "text")
    # the loss compares the output with the input
    ly = 0.5
    box(ax, 4.8, ly, 1.7, 0.62, "loss $L(x, y)$", loss, "text")
    polyline(ax, [(xi, yc - size / 2), (xi, ly), (4.8 - 0.85, ly)], loss, dashed=True)
    polyline(ax, [(xo, yc - size / 2), (xo, ly), (4.8 + 0.85, ly)], loss, dashed=True)
    return fig


def draw_auto_encoder_architecture() -> Figure:
    """The lecture's 784-100-50-2-50-100-784 network with activations and parameter counts."""
    table = layer_table()
    sizes = [table[0][0]] + [row[1] for row in table]  # 784, 100, 50, 2, 50, 100, 784
    params = [row[2] for row in table]
    fig, ax = canvas(10.6, 4.3)
    x0, step, bw, yc = 0.75, 1.52, 0.34, 2.4
    xs = [x0 + i * step for i in range(len(sizes))]
    heights = [0.3 + 0.85 * float(np.log10(n)) for n in sizes]  # log scale: 2 stays visible
    colors = [PALETTE["data"], PALETTE["encoder"], PALETTE["encoder"], PALETTE["code"],
              PALETTE["decoder"], PALETTE["decoder"], PALETTE["data"]]  # fmt: skip
    acts = ["", "ReLU", "ReLU", "", "ReLU", "ReLU", "sigmoid"]
    half = len(params) // 2
    for i, n_params in enumerate(params):  # the Linear layers between the activations
        color = PALETTE["encoder"] if i < half else PALETTE["decoder"]
        a, b = xs[i] + bw / 2, xs[i + 1] - bw / 2
        ha, hb = heights[i], heights[i + 1]
        ax.add_patch(Polygon([(a, yc - ha / 2), (b, yc - hb / 2), (b, yc + hb / 2),
                              (a, yc + ha / 2)], closed=True, facecolor=tint(color, 0.12),
                             edgecolor="none"))  # fmt: skip
        text(ax, (a + b) / 2, yc, f"{n_params:,}", "small")
    for x, n, h, color, act in zip(xs, sizes, heights, colors, acts):
        ax.add_patch(Rectangle((x - bw / 2, yc - h / 2), bw, h, facecolor=tint(color, 0.35),
                               edgecolor=color, linewidth=LINE))  # fmt: skip
        text(ax, x, yc + h / 2 + 0.2, str(n), "text", weight="bold")
        if act:
            text(ax, x, yc - h / 2 - 0.2, act, "small", style="italic")
    text(ax, xs[0] - bw / 2 - 0.25, yc, "$x$", "symbol")
    text(ax, xs[-1] + bw / 2 + 0.28, yc, r"$\hat{x}$", "symbol")
    text(ax, xs[3], yc - heights[3] / 2 - 0.3, "$z$", "symbol")
    # brackets: encoder g and decoder h, with their parameter totals
    for part, (a, b), label, color in ((params[:half], (xs[0], xs[3]), "encoder $g$",
                                        PALETTE["encoder"]),
                                       (params[half:], (xs[3], xs[6]), "decoder $h$",
                                        PALETTE["decoder"])):  # fmt: skip
        lo, hi = a + 0.1, b - 0.1
        ax.plot([lo, lo, hi, hi], [0.62, 0.48, 0.48, 0.62], color=color, linewidth=LINE)
        text(ax, (a + b) / 2, 0.2, f"{label}: {sum(part):,}", "small", color=color)
    title = f"parameters per Linear layer ({sum(params):,} in total)"
    text(ax, (xs[0] + xs[-1]) / 2, 3.98, title, "text")
    return fig


def draw_var_encoder() -> Figure:
    """The VAE: g1 -> mu, g2 -> log sigma, z = mu + sigma * zeta, h, and the two loss terms."""
    fig, ax = canvas(10.6, 4.3)
    enc, dec, code, noise, loss = (PALETTE[k] for k in
                                   ("encoder", "decoder", "code", "noise", "loss"))  # fmt: skip
    ink = PALETTE["ink"]
    yc, size = 2.25, 1.1
    xi, xo = 0.7, 9.85
    yt, yb = 3.2, 1.3  # the two encoder branches
    picture(ax, shirt_image(), xi, yc, size)
    text(ax, xi, yc + size / 2 + 0.28, "$x$", "symbol")
    picture(ax, shirt_image(blur=2), xo, yc, size)
    text(ax, xo, yc + size / 2 + 0.28, r"$\hat{x}$", "symbol")
    for y, label in ((yt, "$g_1$"), (yb, "$g_2$")):
        trapezoid(ax, 1.7, 2.8, y, 0.8, 0.4, label, enc, "symbol")
        polyline(ax, [(xi + size / 2, yc), (1.45, yc), (1.45, y), (1.7, y)], ink)
    mx, sx, sw = 3.6, 4.0, 1.95  # mu box, sigma box (centre x, width)
    box(ax, mx, yt, 0.7, 0.55, r"$\mu$", code, "symbol")
    box(ax, sx, yb, sw, 0.55, r"$\sigma = \exp(g_2)$", code, "small")
    arrow(ax, (2.8, yt), (mx - 0.35, yt))
    arrow(ax, (2.8, yb), (sx - sw / 2, yb))
    # reparameterization: z = mu + sigma * zeta, zeta ~ N(0, I); N's second argument is a
    # variance, as everywhere in the course (CONTRIBUTING.md)
    zx, zw, zh = 6.05, 1.85, 0.62
    box(ax, zx, yc, zw, zh, r"$z = \mu + \sigma\,\zeta$", code, "text")
    polyline(ax, [(mx + 0.35, yt), (zx - 0.45, yt), (zx - 0.45, yc + zh / 2)], ink)
    polyline(ax, [(sx + sw / 2, yb), (zx - 0.45, yb), (zx - 0.45, yc - zh / 2)], ink)
    nx, ny = zx + 0.45, yt + 0.3
    box(ax, nx, ny, 1.65, 0.55, r"$\zeta \sim \mathcal{N}(0, I)$", noise, "small")
    arrow(ax, (nx, ny - 0.275), (nx, yc + zh / 2))
    trapezoid(ax, 7.5, 8.75, yc, 0.4, 0.8, "$h$", dec, "symbol")
    arrow(ax, (zx + zw / 2, yc), (7.5, yc))
    arrow(ax, (8.75, yc), (xo - size / 2, yc))
    # the two loss terms: regularization on (mu, sigma), reproduction on (x, x_hat)
    kx, kw, kh = 3.45, 2.75, 0.78
    box(ax, kx, yc, kw, kh, "regularization\n"
        + r"$KL(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, I))$",
        loss, "small")  # fmt: skip
    for y_from, y_to in ((yt - 0.275, yc + kh / 2), (yb + 0.275, yc - kh / 2)):
        arrow(ax, (3.85, y_from), (3.85, y_to), loss, dashed=True)
    ly, rx, rw = 0.35, 5.3, 3.0
    box(ax, rx, ly, rw, 0.5, r"reproduction $L(x, \hat{x})$", loss, "small")
    polyline(ax, [(xi, yc - size / 2), (xi, ly), (rx - rw / 2, ly)], loss, dashed=True)
    polyline(ax, [(xo, yc - size / 2), (xo, ly), (rx + rw / 2, ly)], loss, dashed=True)
    text(ax, 5.3, 4.05, r"$f_L$ = reproduction + regularization", "text")
    return fig


# ---- checks and saving ----------------------------------------------------------------------
def check_layout(fig: Figure, margin_px: float = 6.0, gap_px: float = 4.0) -> None:
    """Raise if a label leaves the canvas or two labels overlap or come closer than
    ``gap_px`` (clipped, unreadable, or read as one label)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    boxes = []
    for t in fig.findobj(lambda a: isinstance(a, mpl.text.Text)):
        if not t.get_visible() or not t.get_text():
            continue
        bb = t.get_window_extent(renderer)
        if bb.x0 < margin_px or bb.y0 < margin_px or bb.x1 > width - margin_px or \
                bb.y1 > height - margin_px:  # fmt: skip
            raise ValueError(f"label {t.get_text()!r} is clipped: {bb} in {width}x{height}")
        boxes.append((t.get_text(), bb))
    for i, (a, bb_a) in enumerate(boxes):
        grown = bb_a.expanded(1.0, 1.0).padded(gap_px / 2)
        for b, bb_b in boxes[i + 1 :]:
            if grown.overlaps(bb_b.padded(gap_px / 2)):
                raise ValueError(f"labels {a!r} and {b!r} overlap or are closer than "
                                 f"{gap_px:g} px")  # fmt: skip


def save(fig: Figure, path: Path) -> Path:
    """Check the layout, then write a PNG without metadata that varies between versions."""
    fig.canvas.draw()
    check_layout(fig)
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    return path


def load_fashion_mnist():
    """Fashion-MNIST for dimension_reduction.png (digits if it is unavailable, with a note)."""
    from .data import load_dataset

    ds = load_dataset("fashion-mnist")
    if ds.name != "fashion-mnist":
        print(f"aelib.figures: NOTE dimension_reduction.png drawn from {ds.name}; the "
              "committed file must come from Fashion-MNIST.", file=sys.stderr)  # fmt: skip
    return ds


DRAW: dict[str, Callable[..., Figure]] = {
    "over_and_undercomplete.png": draw_over_and_undercomplete,
    "Encoders.png": draw_encoders,
    "dimension_reduction.png": draw_dimension_reduction,
    "auto-encoder.png": draw_auto_encoder,
    "auto-encoder-architecture.png": draw_auto_encoder_architecture,
    "var_encoder.png": draw_var_encoder,
}


def draw_all(folder: str | Path, names: Sequence[str] = NAMES, ds=None) -> list[Path]:
    """Draw the named diagrams into ``folder``; ``ds`` feeds dimension_reduction.png."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with style():
        for name in names:
            if name == "dimension_reduction.png":
                fig = draw_dimension_reduction(ds)
            else:
                fig = DRAW[name]()
            written.append(save(fig, folder / name))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m aelib.figures OUTPUT_FOLDER", file=sys.stderr)
        return 2
    for path in draw_all(args[0]):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
