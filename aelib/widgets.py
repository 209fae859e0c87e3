"""Sliders that walk the latent space (ipywidgets 8), fast enough to drag (02-09).

Why they feel instant (measured in benchmarks/widget_latency.py):

* Nothing redraws a matplotlib figure on a slider move. The latent scatter is rendered
  once and sent once; the current point is a small marker image laid over it, so a move
  only changes the marker's position: a message of a few hundred bytes instead of a new
  scatter PNG.
* The decoder runs on ONE intra-op thread while it decodes one code. With the default
  thread pool, a (1, 2) input still wakes every worker; on a busy 2-core machine one such
  decode took 20 ms instead of 0.05 ms.
* A move sends one 28x28 image upscaled by whole pixels (a PNG of a few kB,
  compress_level=1) and a one-line readout.

Fast drags do not queue redraws: the ipywidgets front end keeps at most one update per
widget in flight (``_pending_msgs``); while the kernel is busy, newer slider values
overwrite one buffered message (``_msg_buffer``), sent when the kernel reports idle. So
the kernel only ever sees the latest value, and a handler that returns in a few
milliseconds keeps up with a drag. tests/browser/ checks this with a slow decoder.

For a lecture hall (``presentation=True``, notebook 09): the explorers take the window's
width, text is ``clamp(16px, 1.25vw, 40px)`` (24 px on a 1920-pixel screen), images are
sized in units of the window, and presets, keyboard steps and clicks on the scatter move
the code. A click reaches the kernel through a hidden text field (class ``aelib-click``)
that the app's page script fills (explore/voila/templates/aelib); the sliders and presets
work everywhere. Every explorer also offers a still picture of itself (``image/png``
beside the widget in its output), which the app shows while the kernel is not there.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor

from . import checks
from .runtime import device_of

Decoder = Callable[[Tensor], Tensor]

# A step of the arrow keys must visibly change the image: in the median of a few codes,
# some pixel changes by at least a tenth of the gray range (25 of 255 levels). Page Up /
# Page Down move five steps (noUiSlider's keyboardPageMultiplier, which ipywidgets keeps).
VISIBLE_CHANGE = 0.1
PAGE_STEPS = 5

# Presentation sizes, in units of the window (CSS): 24 px text and 540 px decoded images
# at 1920x1080, 16 px text and 360 px images at 1280x720.
FONT = "clamp(16px, 1.25vw, 40px)"
IMAGE = "min(30vw, 50vh)"  # the latent explorers' decoded image and scatter
PANEL = "min(22vw, 38vh)"  # each of the compared decoders (three side by side)
MAIN = "min(21vw, 40vh)"  # the interpolation's decoded and blended images
END = "min(11vw, 20vh)"  # the interpolation's two end images
FRAME = "min(7vw, 11vh)"  # one frame of the interpolation's film strips
MARKER = "max(22px, 2vw)"
# The presentation scatter is rendered once at SCATTER_PX rows with SCATTER_FONT_PX text
# and shown IMAGE high: its legend and ticks are 22 px at 1920x1080, 14 px at 1280x720.
SCATTER_PX, SCATTER_FONT_PX = 600, 24

_CSS = f"""<style>
.aelib-explorer .aelib-plot {{ position: relative; cursor: crosshair; touch-action: none;
  user-select: none; flex: 0 0 auto; }}
.aelib-explorer .aelib-plot img {{ -webkit-user-drag: none; }}
.aelib-explorer .aelib-marker {{ position: absolute; transform: translate(-50%, -50%);
  pointer-events: none; z-index: 1; }}
.aelib-explorer img.aelib-pixelated {{ image-rendering: pixelated; flex: 0 0 auto; }}
.aelib-explorer .aelib-help {{ opacity: 0.75; }}
.aelib-presentation {{ width: 100%; box-sizing: border-box; --aelib-font: {FONT};
  font-size: var(--aelib-font); --jp-widgets-font-size: var(--aelib-font);
  --jp-widgets-inline-height: calc(1.6 * var(--aelib-font));
  --jp-widgets-slider-handle-size: calc(0.9 * var(--aelib-font));
  --jp-widgets-slider-track-thickness: calc(0.3 * var(--aelib-font)); }}
.aelib-presentation .widget-label, .aelib-presentation .widget-readout,
.aelib-presentation .widget-html-content, .aelib-presentation .widget-button,
.aelib-presentation .widget-dropdown select, .aelib-presentation .widget-play button {{
  font-size: var(--aelib-font); line-height: 1.35; }}
.aelib-presentation .widget-html, .aelib-presentation .widget-html-content,
.aelib-presentation .widget-button, .aelib-presentation .widget-dropdown,
.aelib-presentation .widget-dropdown select {{ height: auto; }}
.aelib-presentation .widget-button {{ padding: 0.1em 0.6em; width: auto; }}
.aelib-presentation .widget-readout {{ min-width: 3.5em; }}
.aelib-presentation .widget-play button {{ height: auto; width: 2.4em; padding: 0.2em; }}
</style>"""


# ------------------------------------------------------------------------ small pieces


def png_bytes(pixels: np.ndarray, scale: int = 1, compress_level: int = 1,
              palette: str | None = None) -> bytes:  # fmt: skip
    """Encode a (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA array in [0, 1] or uint8 as PNG.

    ``palette``: reduce an RGB image to 255 colours, "octree" (fast) or "mediancut" (keeps
    the shades of gray of a decoded image): a third of the bytes for a scatter plot or a
    still picture, which are sent (and stored in the notebook) once.
    """
    arr = pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    img = PILImage.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), PILImage.NEAREST)
    if palette and img.mode == "RGB":
        method = {"octree": PILImage.Quantize.FASTOCTREE,
                  "mediancut": PILImage.Quantize.MEDIANCUT}[palette]  # fmt: skip
        img = img.quantize(colors=255, method=method)
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=compress_level)  # 1: fast, these are tiny
    return buf.getvalue()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (one tiny decode; restored after)."""
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _latent_dims(decoder: Any) -> int:
    return int(getattr(decoder, "latent_dims", 2))


@torch.no_grad()
def decode_one(decoder: Decoder, z: Sequence[float]) -> np.ndarray:
    """Decode one code to a (28, 28) array on the CPU (02)."""
    with single_thread():
        zt = torch.tensor([list(z)], dtype=torch.float32, device=device_of(decoder))
        out = decoder(zt)
        return out.reshape(out.shape[-2], out.shape[-1]).float().cpu().numpy()


@torch.no_grad()
def _decode_many(decoder: Decoder, z: Tensor) -> np.ndarray:
    """Decode (N, 2) codes to (N, 28, 28) arrays on the CPU, on one thread."""
    with single_thread():
        out = decoder(z.to(device=device_of(decoder), dtype=torch.float32))
        return out.reshape(len(z), out.shape[-2], out.shape[-1]).float().cpu().numpy()


def image_widget(pixels: np.ndarray | None = None, scale: int = 6, size: int = 28) -> W.Image:
    """An ipywidgets Image showing ``pixels`` (or black) at ``scale`` times their size."""
    pixels = np.zeros((size, size), np.float32) if pixels is None else pixels
    h, w = pixels.shape[:2]
    return W.Image(value=png_bytes(pixels, scale), format="png",
                   layout=W.Layout(width=f"{w * scale}px", height=f"{h * scale}px"))  # fmt: skip


def _sized(img: W.Image, css_size: str | None) -> W.Image:
    """In presentation, size ``img`` in units of the window, its pixels kept sharp."""
    if css_size is not None:
        img.layout.width = img.layout.height = css_size
        img.add_class("aelib-pixelated")
    return img


def captioned(child: W.Widget, caption: str) -> W.VBox:
    """A widget with a centred caption above it."""
    label = W.HTML(f"<div style='text-align:center;font-weight:bold'>{caption}</div>")
    return W.VBox([label, child], layout=W.Layout(align_items="center"))


def _style() -> W.HTML:
    """The explorers' CSS (marker overlay, sharp pixels, presentation sizes), inert elsewhere."""
    return W.HTML(_CSS, layout=W.Layout(display="none"))


def _nice_step(span: float, steps: int = 200) -> float:
    """The largest of 1, 2, 5 x 10^k not above span / steps: readouts stay round numbers."""
    raw = span / steps
    base = 10 ** math.floor(math.log10(raw))
    return max(m * base for m in (1, 2, 5) if m * base <= raw * (1 + 1e-9))


def _nice_ladder(lo: float, hi: float) -> list[float]:
    """The numbers 1, 2, 5 x 10^k from the largest not above ``lo`` up to ``hi``, ascending."""
    k = math.floor(math.log10(lo))
    out: list[float] = []
    while not out or out[-1] < hi:
        out += [round(m * 10**k, 12) for m in (1, 2, 5)]
        k += 1
    first = max(i for i, v in enumerate(out) if v <= lo * (1 + 1e-9))
    return [v for v in out[first:] if v <= hi * (1 + 1e-9)] or [out[first]]


@torch.no_grad()
def visible_step(decoder: Decoder, z: Tensor, axis: int, span: float) -> float:
    """The smallest round step along ``axis`` that changes the decoding of ``z`` visibly (09).

    Visibly: in the median over the codes ``z`` (N, 2), the largest pixel change is at
    least VISIBLE_CHANGE. Steps from span / 200 to span / 20 are tried; a decoder that
    never changes visibly (it ignores z) gets span / 20.
    """
    ladder = _nice_ladder(span / 200, span / 20)
    z = z.detach().float().cpu()
    shifted = [z] + [z + torch.eye(2)[axis] * s for s in ladder]
    pixels = _decode_many(decoder, torch.cat(shifted)).reshape(len(shifted), len(z), -1)
    change = np.median(np.abs(pixels[1:] - pixels[0]).max(axis=2), axis=1)
    for step, c in zip(ladder, change):
        if c >= VISIBLE_CHANGE:
            return step
    return ladder[-1]


def _digits(step: float) -> int:
    """Decimals that show a multiple of ``step`` exactly (at least 2): 0.005 -> 3."""
    return max(2, -math.floor(math.log10(step) + 1e-9))


def _snap(value: float, step: float) -> float:
    return round(round(value / step) * step, 10)


def _slider(name: str, lo: float, hi: float, value: float | None = None, steps: int = 200,
            step: float | None = None, presentation: bool = False) -> W.FloatSlider:  # fmt: skip
    if not hi > lo:  # e.g. codes that all coincide: give the slider some room
        lo, hi = lo - 0.5, lo + 0.5
    step = step or _nice_step(hi - lo, steps)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    value = (lo + hi) / 2 if value is None else min(max(value, lo), hi)
    digits = _digits(step)
    layout = (W.Layout(width="auto", flex="1 1 0") if presentation
              else W.Layout(width="360px"))  # fmt: skip
    return W.FloatSlider(
        value=_snap(value, step), min=_snap(lo, step), max=_snap(hi, step), step=step,
        description=name, continuous_update=True, readout_format=f".{digits}f", layout=layout,
        style={"description_width": "initial"} if presentation else {},
    )  # fmt: skip


def _readout(text: str) -> W.HTML:
    """The kernel's own readout of the current value (the browser tests wait for it)."""
    out = W.HTML(text)
    out.add_class("aelib-readout")
    return out


def _help(text: str) -> W.HTML:
    out = W.HTML(text)
    out.add_class("aelib-help")
    return out


def _decoded_view(pixels: np.ndarray | None, scale: int, css_size: str | None = None) -> W.Image:
    img = _sized(image_widget(pixels, scale), css_size)
    img.add_class("aelib-decoded")
    return img


def _fmt(v: float) -> str:
    return f"{v:g}"


def _steps_text(steps: Sequence[float], names: Sequence[str]) -> str:
    """'← → move by 0.5, Page Up / Page Down by 2.5' (per slider where they differ)."""
    if len(set(steps)) == 1:
        s = steps[0]
        return f"← → move by {_fmt(s)}, Page Up / Page Down by {_fmt(PAGE_STEPS * s)}"
    parts = [f"{n}: ← → {_fmt(s)}, Page Up / Down {_fmt(PAGE_STEPS * s)}"
             for n, s in zip(names, steps)]  # fmt: skip
    return "; ".join(parts)


class _Timer:
    """Records the Python-side time of each update, for benchmarks and the curious."""

    def __init__(self) -> None:
        self.times_ms: list[float] = []

    def __enter__(self) -> _Timer:
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.times_ms.append((time.perf_counter() - self._t) * 1e3)

    @property
    def median_ms(self) -> float:
        """Median update time so far (nan before the first update)."""
        return float(np.median(self.times_ms)) if self.times_ms else float("nan")


class _Picture:
    """Adds a still picture (``image/png``) beside the live widget in a cell's output.

    Front ends with a widget manager show the widget; the explorer app shows the picture
    (of the committed notebook) when its kernel is gone or slow, and static viewers show
    it instead of nothing. A kernel that Voila started (VOILA_KERNEL_ID) skips it.
    """

    def picture(self) -> np.ndarray:  # pragma: no cover - every explorer defines it
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        data = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        # Under Voila the page's fallback is the committed picture: skip the 0.1 s here.
        if data is not None and not os.environ.get("VOILA_KERNEL_ID"):
            data["image/png"] = png_bytes(self.picture(), compress_level=6, palette="mediancut")
        return data


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """A gray image in [0, 1] (or RGB/RGBA uint8) as RGB uint8."""
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return pixels[..., :3]


def _fit_height(pixels: np.ndarray, height: int) -> np.ndarray:
    """Resize an RGB image to ``height`` rows (nearest neighbour for small images)."""
    img = PILImage.fromarray(_rgb(pixels))
    width = max(1, round(img.width * height / img.height))
    method = PILImage.NEAREST if img.height <= 64 else PILImage.LANCZOS
    return np.asarray(img.resize((width, height), method))


def side_by_side(images: Sequence[np.ndarray], height: int, gap: int = 12) -> np.ndarray:
    """Images scaled to one height and laid out left to right on white (a still picture)."""
    parts = [_fit_height(p, height) for p in images]
    width = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for p in parts:
        out[:, x : x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def _stack(rows: Sequence[np.ndarray], gap: int = 12) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + gap * (len(rows) - 1)
    out = np.full((height, width, 3), 255, np.uint8)
    y = 0
    for r in rows:
        out[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + gap
    return out


# ------------------------------------------------------------------- the latent scatter


def _marker_pixels(radius: int = 6) -> np.ndarray:
    """A gold dot with a black ring and crosshair on a transparent (RGBA) square."""
    size = 4 * radius + 1
    img = np.zeros((size, size, 4), np.uint8)
    rr, cc = np.ogrid[:size, :size]
    c = 2 * radius
    d2 = (rr - c) ** 2 + (cc - c) ** 2
    img[(d2 <= (radius + 1.5) ** 2) & (d2 >= (radius - 1.5) ** 2)] = (0, 0, 0, 255)
    img[d2 <= (radius - 1.5) ** 2] = (255, 215, 0, 255)
    cross = np.zeros((size, size), bool)
    cross[c - 1 : c + 1, :] = cross[:, c - 1 : c + 1] = True
    img[cross & (d2 > (radius + 1.5) ** 2)] = (0, 0, 0, 255)
    return img


def _draw_marker(img: np.ndarray, r: int, c: int, radius: int = 6) -> np.ndarray:
    """A copy of the RGB ``img`` with the marker centred on pixel (r, c)."""
    img = img.copy()
    marker = _marker_pixels(radius)
    h, w = img.shape[:2]
    half = 2 * radius
    r0, c0 = r - half, c - half
    rs = slice(max(r0, 0), min(r0 + marker.shape[0], h))
    cs = slice(max(c0, 0), min(c0 + marker.shape[1], w))
    m = marker[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
    alpha = m[..., 3:] / 255.0
    img[rs, cs] = (alpha * m[..., :3] + (1 - alpha) * img[rs, cs]).astype(np.uint8)
    return img


class LatentScatter:
    """The codes' scatter, rendered once to pixels; ``with_marker(z)`` adds the current point.

    ``size_px`` is the height of the rendered image and ``font_px`` the size of its tick
    labels and legend in those pixels (default: a 28th of the height). The plot area is
    square; the legend sits to its right.
    """

    def __init__(
        self,
        codes: Tensor,
        labels: Tensor | None,
        class_names: Sequence[str] | None,
        z1_range: tuple[float, float],
        z2_range: tuple[float, float],
        size_px: int = 320,
        font_px: float | None = None,
        point_size: float = 2.0,
        alpha: float = 0.4,
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plots import plot_latent

        dpi = 100
        f = font_px or size_px / 28
        legend = labels is not None and len(codes) > 0
        side = size_px - 3.4 * f - 0.8 * f  # the square plot area, in pixels
        left, right = 4.6 * f, (9.0 * f if legend else 0.8 * f)
        width = left + side + right
        fig = Figure(figsize=(width / dpi, size_px / dpi), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((left / width, 3.4 * f / size_px, side / width, side / size_px))
        plot_latent(codes, labels, class_names, ax=ax, s=point_size, alpha=alpha)
        pt = f * 72 / dpi  # font size in points for f pixels
        ax.tick_params(labelsize=pt)
        # plain-text labels: matplotlib's mathtext would cost 0.25 s on the first figure
        ax.set_xlabel("z₁", fontsize=1.15 * pt)
        ax.set_ylabel("z₂", fontsize=1.15 * pt)
        if legend:  # explicit sizes: readable at the size the page shows the image
            handles, names = ax.get_legend_handles_labels()
            leg = ax.legend(handles, names, fontsize=pt, loc="center left",
                            bbox_to_anchor=(1.0, 0.5), frameon=False, handletextpad=0.2,
                            borderaxespad=0.3,
                            markerscale=0.7 * pt / math.sqrt(point_size))  # fmt: skip
            for h in leg.legend_handles:
                h.set_alpha(1.0)
        ax.set_xlim(*z1_range)
        ax.set_ylim(*z2_range)
        fig.canvas.draw()
        self.base = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        self._to_px = ax.transData  # data -> display pixels (origin bottom left)
        self._to_data = ax.transData.inverted()
        self.height, self.width = self.base.shape[:2]

    def pixel(self, z: Sequence[float]) -> tuple[int, int]:
        """Row and column of the code ``z`` in the rendered scatter (clipped to the image)."""
        x, y = self._to_px.transform((float(z[0]), float(z[1])))
        r, c = int(round(self.height - y)), int(round(x))
        return min(max(r, 0), self.height - 1), min(max(c, 0), self.width - 1)

    def code_at(self, fx: float, fy: float) -> tuple[float, float]:
        """The code under a point of the image given as fractions of its width and height."""
        z1, z2 = self._to_data.transform((fx * self.width, (1 - fy) * self.height))
        return float(z1), float(z2)

    def position(self, z: Sequence[float]) -> tuple[str, str]:
        """CSS left and top of the code ``z``, in percent of the image (for the marker)."""
        r, c = self.pixel(z)
        return f"{100 * c / self.width:.3f}%", f"{100 * r / self.height:.3f}%"

    def with_marker(self, z: Sequence[float], radius: int = 6) -> np.ndarray:
        """A copy of the scatter with the marker at ``z`` drawn in (a static snapshot)."""
        return _draw_marker(self.base, *self.pixel(z), radius=radius)


def _range_of(codes: Tensor | None, k: int, prior: tuple[float, float]) -> tuple[float, float]:
    if codes is None:
        return prior
    col = codes[:, k].detach().float().cpu()
    lo, hi = float(col.quantile(0.005)), float(col.quantile(0.995))
    pad = 0.1 * (hi - lo)
    return (round(lo - pad, 2), round(hi + pad, 2))


def _z_text(z: Sequence[float], name: str = "z", digits: int = 2) -> str:
    return f"<code>{name} = (" + ", ".join(f"{v:+.{digits}f}" for v in z) + ")</code>"


# -------------------------------------------------------------------------- presets


def class_medians(codes: Tensor, labels: Tensor, class_names: Sequence[str] | None = None
                  ) -> dict[str, tuple[float, float]]:  # fmt: skip
    """The coordinate-wise median code of each class, by class name (09)."""
    z, y = codes.detach().float().cpu(), labels.detach().cpu()
    out = {}
    for k in torch.unique(y).tolist():
        name = class_names[k] if class_names is not None else str(k)
        out[name] = tuple(z[y == k].median(0).values.tolist())
    return out


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of (N, 2) points, counter-clockwise (Andrew's monotone chain).

    Points strictly inside the octagon of the extreme points (in x, y, x + y and x - y)
    cannot be vertices and are dropped first (Akl-Toussaint): the loop sees a few hundred.
    """
    from matplotlib.path import Path

    pts = np.unique(np.asarray(points, dtype=np.float64), axis=0)
    if len(pts) < 3:
        return pts
    keys = [pts[:, 0], pts[:, 1], pts.sum(1), pts[:, 0] - pts[:, 1]]
    extremes = pts[[f(k) for k in keys for f in (np.argmin, np.argmax)]]
    octagon = extremes[np.argsort(np.arctan2(*(extremes - extremes.mean(0)).T[::-1]))]
    if len(np.unique(octagon, axis=0)) >= 3:
        pts = pts[~Path(octagon).contains_points(pts)]
        pts = np.unique(np.vstack([pts, octagon]), axis=0)

    def half(seq: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for p in seq:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def widest_gap(codes: Tensor, n: int = 64, trim: float = 0.01) -> tuple[float, float]:
    """The centre of the largest empty circle among the codes, inside their convex hull (09).

    Distances are measured in units of each coordinate's standard deviation, so a gap
    is wide relative to the spread of the codes. The hull is that of the codes inside
    the [trim, 1 - trim] quantiles of each coordinate (a few outliers do not count).
    Searched on an n x n grid, then on a finer grid around the best point.
    """
    from matplotlib.path import Path

    z = codes.detach().float().cpu()
    scale = z.std(0).clamp_min(1e-12)
    u = z / scale
    lo, hi = u.quantile(trim, 0), u.quantile(1 - trim, 0)
    core = u[((u >= lo) & (u <= hi)).all(1)]
    hull = Path(convex_hull(core.numpy().astype(np.float64)))

    def nearest(points: Tensor) -> Tensor:
        out = torch.empty(len(points))
        with single_thread():
            for i in range(0, len(points), 1024):
                out[i : i + 1024] = torch.cdist(points[i : i + 1024], u).min(1).values
        return out

    def best(lo1: float, hi1: float, lo2: float, hi2: float) -> tuple[Tensor, float]:
        g1, g2 = torch.meshgrid(torch.linspace(lo1, hi1, n), torch.linspace(lo2, hi2, n),
                                indexing="ij")  # fmt: skip
        grid = torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)
        inside = torch.from_numpy(hull.contains_points(grid.numpy()))
        grid = grid[inside] if inside.any() else grid
        d = nearest(grid)
        i = int(d.argmax())
        return grid[i], float(d[i])

    p, _ = best(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    cell = (hi - lo) / (n - 1)
    p, _ = best(float(p[0] - cell[0]), float(p[0] + cell[0]),
                float(p[1] - cell[1]), float(p[1] + cell[1]))  # fmt: skip
    return tuple((p * scale).tolist())


# ------------------------------------------------------------------------- explorers


class LatentExplorer(_Picture, W.VBox):
    """Sliders for (z1, z2), the decoded image and the latent scatter with the point marked.

    With ``codes`` the sliders span the codes (their 0.5-99.5 % range, padded); without,
    the ``prior`` range. Presets jump to each class's median code (with ``labels``), to
    the widest gap among the codes, to a sample of ``prior_sample`` ("normal": N(0, I);
    "codes": a normal with the codes' mean and standard deviation per coordinate; default
    "codes" when codes are given) and back to the start. Arrow keys move by the smallest
    round step that visibly changes the image (``visible_step``), Page Up / Down by five.
    ``presentation`` sizes it for a projector and is meant for the app's page (notebook 09
    under ``make explore``), whose script also turns clicks on the scatter into jumps.
    """

    def __init__(
        self,
        decoder: Decoder,
        codes: Tensor | None = None,
        labels: Tensor | None = None,
        class_names: Sequence[str] | None = None,
        prior: tuple[float, float] = (-3.0, 3.0),
        scale: int = 8,
        *,
        presentation: bool = False,
        presets: bool = True,
        prior_sample: str | None = None,
        units: str | None = None,
        seed: int = 0,
    ) -> None:
        if _latent_dims(decoder) != 2:
            raise ValueError("The latent explorer walks a 2-D latent space; this decoder has "
                             f"latent_dims={_latent_dims(decoder)}.")  # fmt: skip
        prior_sample = prior_sample or ("codes" if codes is not None else "normal")
        if prior_sample not in ("normal", "codes") or (prior_sample == "codes" and codes is None):
            raise ValueError("prior_sample is 'normal' (N(0, I)) or 'codes' (a normal "
                             "fitted to the codes, which must be given); "
                             f"got {prior_sample!r}.")  # fmt: skip
        self.decoder, self.scale, self.timer = decoder, scale, _Timer()
        self.presentation = presentation
        r1, r2 = _range_of(codes, 0, prior), _range_of(codes, 1, prior)
        z = codes.detach().float().cpu() if codes is not None else None
        self.start = (0.0, 0.0) if z is None else tuple(z.median(0).values.tolist())
        grid = torch.cartesian_prod(torch.linspace(*r1, 6), torch.linspace(*r2, 6))
        probe = z[:: max(1, len(z) // 32)] if z is not None and len(z) else grid
        self.steps = tuple(visible_step(decoder, probe, k, hi - lo)
                           for k, (lo, hi) in enumerate((r1, r2)))  # fmt: skip
        self.z1 = _slider("z₁", *r1, value=self.start[0], step=self.steps[0],
                          presentation=presentation)  # fmt: skip
        self.z2 = _slider("z₂", *r2, value=self.start[1], step=self.steps[1],
                          presentation=presentation)  # fmt: skip
        self._muted = False
        self.image = _decoded_view(decode_one(decoder, self.z), scale,
                                   IMAGE if presentation else None)  # fmt: skip
        shown = z if z is not None else torch.zeros(0, 2)
        ranges = (self.z1.min, self.z1.max), (self.z2.min, self.z2.max)
        size = (dict(size_px=SCATTER_PX, font_px=SCATTER_FONT_PX, point_size=5.0, alpha=0.55)
                if presentation else {})  # fmt: skip
        self.scatter = LatentScatter(shown, labels if z is not None else None, class_names,
                                     *ranges, **size)  # fmt: skip
        h, w = self.scatter.height, self.scatter.width
        # The scatter is sent once; the marker is a small image over it, placed in percent
        # of the scatter. A move pushes two percentages, not a new scatter PNG.
        sv_layout = (W.Layout(height=IMAGE, width="auto") if presentation
                     else W.Layout(width=f"{w}px", height=f"{h}px"))  # fmt: skip
        self.scatter_view = W.Image(value=png_bytes(self.scatter.base, palette="octree"),
                                    format="png", layout=sv_layout)  # fmt: skip
        self.scatter_view.add_class("aelib-scatter")
        left, top = self.scatter.position(self.z)
        m = MARKER if presentation else "25px"
        self.marker = W.Image(value=png_bytes(_marker_pixels(6)), format="png",
                              layout=W.Layout(width=m, height=m, left=left, top=top))  # fmt: skip
        self.marker.add_class("aelib-marker")
        plot = W.Box([self.scatter_view, self.marker])
        plot.add_class("aelib-plot")
        self.digits = max(_digits(s.step) for s in (self.z1, self.z2))  # as the sliders show
        self.caption = _readout(_z_text(self.z, digits=self.digits))
        self.click = W.Text(value="", continuous_update=True, layout=W.Layout(display="none"))
        self.click.add_class("aelib-click")
        self.click.observe(self._on_click, names="value")
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")

        self.presets: dict[str, tuple[float, float] | Callable[[], tuple[float, float]]] = {}
        buttons = []
        if presets:
            if z is not None and labels is not None and len(z):
                for name, med in class_medians(z, labels, class_names).items():
                    self.presets[name] = med
                    buttons.append(self._button(name, "class", f"the median code of {name}"))
            if z is not None and len(z) >= 3:  # searched on the first press (0.3 s)
                self.presets["widest gap"] = functools.cache(lambda: widest_gap(z))
                buttons.append(self._button("widest gap", "gap", "the centre of the largest "
                                            "empty circle among the codes"))  # fmt: skip
            mean, std = ((z.mean(0), z.std(0)) if prior_sample == "codes"
                         else (torch.zeros(2), torch.ones(2)))  # fmt: skip
            gen = torch.Generator().manual_seed(seed)
            self.presets["sample"] = lambda: tuple(
                (mean + std * torch.randn(2, generator=gen)).tolist())
            if prior_sample == "normal":
                label, tip = "sample N(0, I)", "a sample of the prior"
            else:
                label, tip = "sample N(m, s²)", "m, s: the codes' mean and standard deviation"
            buttons.append(self._button(label, "prior", tip))
            self.presets["reset"] = self.start
            buttons.append(self._button("reset", "reset", "back to the median code"))
        units = units or ("the codes' own units" if z is not None else "the prior's units")
        # clicks reach the kernel through the app's page script (presentation is for the app)
        jump = "; click or drag on the scatter to jump there" if presentation else ""
        help_text = (f"z in {units}. {_steps_text(self.steps, ('z₁', 'z₂'))} (click a "
                     f"slider first){jump}.")  # fmt: skip
        self.help = _help(help_text)
        gap = "1.2vw" if presentation else "8px"
        # presentation: a column beside the scatter, using a wide screen; else a row below
        preset_box = (W.VBox(buttons, layout=W.Layout(align_items="stretch", flex="0 0 auto"))
                      if presentation else
                      W.HBox(buttons, layout=W.Layout(flex_flow="row wrap")))  # fmt: skip
        preset_box.add_class("aelib-presets")
        row = W.HBox([captioned(self.image, "decoded h(z)"), plot]
                     + ([preset_box] if presentation else []),
                     layout=W.Layout(align_items="center", grid_gap=gap, width="100%"))  # fmt: skip
        sliders = W.HBox([self.z1, self.z2], layout=W.Layout(width="100%", grid_gap=gap))
        below = [] if presentation else [preset_box]
        super().__init__([_style(), row, sliders, *below, W.HBox([self.caption]), self.help,
                          self.click],
                         layout=W.Layout(width="100%") if presentation else W.Layout())  # fmt: skip
        self.add_class("aelib-explorer")
        self.add_class("aelib-latent-explorer")
        if presentation:
            self.add_class("aelib-presentation")

    def _button(self, label: str, kind: str, tooltip: str) -> W.Button:
        key = {"class": label, "gap": "widest gap", "prior": "sample", "reset": "reset"}[kind]
        b = W.Button(description=label, tooltip=tooltip, layout=W.Layout(width="auto"))
        b.add_class("aelib-preset")
        b.add_class(f"aelib-preset-{kind}")
        b.on_click(lambda _b, key=key: self.jump(key))
        return b

    def jump(self, preset: str) -> None:
        """Move to a preset: a class name, 'widest gap', 'sample' or 'reset'."""
        target = self.presets[preset]
        self.set_z(target() if callable(target) else target)

    @property
    def z(self) -> tuple[float, float]:
        """The current code (z1, z2)."""
        return (self.z1.value, self.z2.value)

    def set_z(self, z: Sequence[float]) -> None:
        """Move both sliders to ``z`` (snapped to their steps, clipped to their ranges) at once."""
        values = [min(max(_snap(v, s.step), s.min), s.max) for v, s in zip(z, (self.z1, self.z2))]
        self._muted = True
        try:
            self.z1.value, self.z2.value = values
        finally:
            self._muted = False
        self.update()

    def _on_click(self, change: dict) -> None:
        try:  # "fx,fy,count" from the page script: fractions of the scatter image
            fx, fy = (float(v) for v in str(change["new"]).split(",")[:2])
        except ValueError:
            return
        if 0 <= fx <= 1 and 0 <= fy <= 1:
            self.set_z(self.scatter.code_at(fx, fy))

    def snapshot(self) -> np.ndarray:
        """The scatter with the marker drawn in, as pixels (for a static figure)."""
        return self.scatter.with_marker(self.z)

    def picture(self) -> np.ndarray:
        """The decoded image beside the scatter with the marker: the explorer as a still."""
        snap = self.snapshot()
        return side_by_side([decode_one(self.decoder, self.z), snap], snap.shape[0])

    def update(self, change: object = None) -> None:
        """Decode the current code, move the marker and update the readout."""
        if self._muted:
            return
        with self.timer:
            z = self.z
            self.image.value = png_bytes(decode_one(self.decoder, z), self.scale)
            left, top = self.scatter.position(z)
            with self.marker.layout.hold_sync():
                self.marker.layout.left, self.marker.layout.top = left, top
            self.caption.value = _z_text(z, digits=self.digits)


def latent_explorer(
    decoder: Decoder,
    codes: Tensor | None = None,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    prior: tuple[float, float] = (-3.0, 3.0),
    **options: Any,
) -> LatentExplorer:
    """Walk a 2-D latent space: ranges from ``codes``, or from ``prior`` for a VAE or GAN (02).

    ``options``: presentation, presets, prior_sample, units, seed (see LatentExplorer).
    """
    codes is None or checks.points(codes, "codes", "latent_explorer", dims=2)
    labels is None or codes is None or checks.labels(labels, len(codes), who="latent_explorer")
    return LatentExplorer(decoder, codes, labels, class_names, prior, **options)


def _plane(decoder: Decoder, to_z: Callable[[Tensor], Tensor], u_range: tuple[float, float],
           n: int = 15) -> np.ndarray:  # fmt: skip
    """What ``decoder`` draws across the plane: an n x n grid of decodings over u_range^2,
    top row = largest u2, with rings at |u| = 1, 2, 3 (RGB)."""
    from .plots import image_grid, latent_grid

    u = latent_grid(u_range, u_range, n)
    tiles = torch.from_numpy(_decode_many(decoder, to_z(u)))
    img = _rgb(image_grid(tiles, nrow=n, pad=0))
    size = img.shape[0]
    rr, cc = np.mgrid[:size, :size]
    lo, hi = u_range
    uu1 = lo + (cc + 0.5) / size * (hi - lo)
    uu2 = hi - (rr + 0.5) / size * (hi - lo)
    radius = np.hypot(uu1, uu2)
    width = (hi - lo) / size * 1.2
    for k in (1, 2, 3):
        img[np.abs(radius - k) < width] = (230, 120, 20)  # orange rings
    return img


class CompareExplorer(_Picture, W.VBox):
    """One code drives several decoders side by side.

    Without ``codes`` the sliders give z itself, in ``z_range``. With ``codes`` (a code
    tensor per decoder name) the sliders give u in standard units of each decoder's own
    codes: decoder d draws z = m_d + s_d * u (per coordinate; m_d and s_d the mean and
    standard deviation of its codes), so every model is shown across its own codes.
    Decoders without codes (a GAN, whose noise is N(0, I)) take z = u. ``planes`` adds
    under each decoded image what that decoder draws across the whole plane, with the
    marker at the current code.
    """

    def __init__(
        self, decoders: Mapping[str, Decoder], z_range: tuple[float, float] = (-3.0, 3.0),
        scale: int = 6, *, codes: Mapping[str, Tensor] | None = None, planes: bool = False,
        presentation: bool = False, seed: int = 0,
    ) -> None:  # fmt: skip
        if not decoders:
            raise ValueError("compare_explorer needs at least one decoder: {'AE': ae.decoder}.")
        unknown = set(codes or {}) - set(decoders)
        if unknown:
            raise ValueError(f"codes for {sorted(unknown)} but no decoder of that name.")
        self.decoders, self.scale, self.timer = dict(decoders), scale, _Timer()
        self.standardized = codes is not None
        self.moments: dict[str, tuple[Tensor, Tensor]] = {}
        for name in self.decoders:
            if codes is not None and name in codes:
                c = codes[name].detach().float().cpu()
                self.moments[name] = (c.mean(0), c.std(0))
            else:
                self.moments[name] = (torch.zeros(2), torch.ones(2))
        sym = "u" if self.standardized else "z"
        span = z_range[1] - z_range[0]
        probe = torch.cartesian_prod(*[torch.linspace(z_range[0] / 1.5, z_range[1] / 1.5, 6)] * 2)
        self.steps = tuple(
            max(visible_step(lambda u, n=n: self.decoders[n](self._to_z(n, u)), probe, k, span)
                for n in self.decoders)
            for k in (0, 1)
        )  # fmt: skip
        self.z1 = _slider(f"{sym}₁", *z_range, value=0.0, step=self.steps[0],
                          presentation=presentation)  # fmt: skip
        self.z2 = _slider(f"{sym}₂", *z_range, value=0.0, step=self.steps[1],
                          presentation=presentation)  # fmt: skip
        self.u_range = (self.z1.min, self.z1.max)
        size = PANEL if presentation else None
        self.images = {n: _decoded_view(decode_one(d, self.z_of(n)), scale, size)
                       for n, d in self.decoders.items()}  # fmt: skip
        self.codes_text = {n: _help(_z_text(self.z_of(n))) for n in self.decoders}
        self.planes: dict[str, np.ndarray] = {}
        self.markers: dict[str, W.Image] = {}
        panels = []
        for n, img in self.images.items():
            parts = [W.HTML(f"<b>{n}</b>"), img]
            if planes:
                self.planes[n] = _plane(self.decoders[n], lambda u, n=n: self._to_z(n, u),
                                        self.u_range)  # fmt: skip
                side = size or "240px"
                view = W.Image(value=png_bytes(self.planes[n], palette="octree"), format="png",
                               layout=W.Layout(width=side, height=side))  # fmt: skip
                view.add_class("aelib-plane")
                left, top = self._plane_position()
                m = MARKER if presentation else "25px"
                marker = W.Image(value=png_bytes(_marker_pixels(6)), format="png",
                                 layout=W.Layout(width=m, height=m, left=left,
                                                 top=top))  # fmt: skip
                marker.add_class("aelib-marker")
                self.markers[n] = marker
                box = W.Box([view, marker])
                box.add_class("aelib-plot")
                parts.append(box)
            if self.standardized:  # each model's own z; otherwise the readout says it
                parts.append(self.codes_text[n])
            panels.append(W.VBox(parts, layout=W.Layout(align_items="center")))
        self.digits = max(_digits(s.step) for s in (self.z1, self.z2))
        self.caption = _readout(_z_text(self.z, sym, self.digits))
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")
        self._muted = False
        gen = torch.Generator().manual_seed(seed)
        sample = W.Button(description="sample N(0, I)", layout=W.Layout(width="auto"),
                          tooltip="a code from N(0, I) in these units")  # fmt: skip
        sample.on_click(lambda _b: self.set_z(torch.randn(2, generator=gen).tolist()))
        reset = W.Button(description="reset", layout=W.Layout(width="auto"))
        reset.on_click(lambda _b: self.set_z((0.0, 0.0)))
        for b, kind in ((sample, "prior"), (reset, "reset")):
            b.add_class("aelib-preset")
            b.add_class(f"aelib-preset-{kind}")
        if self.standardized:
            named = ", ".join(n for n in self.decoders if n in (codes or {}))
            others = [n for n in self.decoders if n not in (codes or {})]
            units = (f"u in standard units of each model's own codes: {named} draw "
                     "z = m + s·u, with m and s the mean and standard deviation of their "
                     "codes per coordinate")  # fmt: skip
            if others:
                units += f"; {', '.join(others)} draw{'s' if len(others) == 1 else ''} z = u"
        else:
            units = "the same z for every model"
        plane_note = ("; under each image, what the model draws across the plane "
                      f"({sym} from {_fmt(self.u_range[0])} to {_fmt(self.u_range[1])}, "
                      "rings at 1, 2, 3)") if planes else ""  # fmt: skip
        steps = _steps_text(self.steps, (sym + "₁", sym + "₂"))
        self.help = _help(f"{units}{plane_note}. {steps}.")
        gap = "1.2vw" if presentation else "8px"
        super().__init__([
            _style(),
            W.HBox(panels, layout=W.Layout(justify_content="space-around" if presentation
                                           else "flex-start", width="100%", grid_gap=gap)),
            W.HBox([self.z1, self.z2], layout=W.Layout(width="100%", grid_gap=gap)),
            W.HBox([self.caption, sample, reset], layout=W.Layout(align_items="center",
                                                                  grid_gap=gap)),
            self.help,
        ], layout=W.Layout(width="100%") if presentation else W.Layout())  # fmt: skip
        self.add_class("aelib-explorer")
        self.add_class("aelib-compare-explorer")
        if presentation:
            self.add_class("aelib-presentation")

    def _to_z(self, name: str, u: Tensor) -> Tensor:
        m, s = self.moments[name]
        return m + s * u

    def z_of(self, name: str) -> tuple[float, float]:
        """The code that decoder ``name`` decodes now (its own z)."""
        return tuple(self._to_z(name, torch.tensor(self.z)).tolist())

    def _plane_position(self) -> tuple[str, str]:
        lo, hi = self.u_range
        fx = (self.z1.value - lo) / (hi - lo)
        fy = (hi - self.z2.value) / (hi - lo)
        return f"{100 * fx:.3f}%", f"{100 * fy:.3f}%"

    @property
    def z(self) -> tuple[float, float]:
        """The sliders' value: z, or u in standard units of each model's codes."""
        return (self.z1.value, self.z2.value)

    def set_z(self, z: Sequence[float]) -> None:
        """Move both sliders at once (snapped to their steps, clipped to their range)."""
        values = [min(max(_snap(v, s.step), s.min), s.max) for v, s in zip(z, (self.z1, self.z2))]
        self._muted = True
        try:
            self.z1.value, self.z2.value = values
        finally:
            self._muted = False
        self.update()

    def picture(self) -> np.ndarray:
        """Every decoded image (and plane) as a still."""
        cols = []
        for n, d in self.decoders.items():
            img = _fit_height(decode_one(d, self.z_of(n)), 240)
            if n in self.planes:
                plane = _fit_height(self.planes[n], 240)
                lo, hi = self.u_range
                r = round((hi - self.z2.value) / (hi - lo) * 239)
                c = round((self.z1.value - lo) / (hi - lo) * 239)
                img = _stack([img, _draw_marker(plane, r, c)])
            cols.append(img)
        return side_by_side(cols, cols[0].shape[0], gap=24)

    def update(self, change: object = None) -> None:
        """Decode the current code with every decoder."""
        if getattr(self, "_muted", False):
            return
        with self.timer:
            pngs = {n: png_bytes(decode_one(d, self.z_of(n)), self.scale)
                    for n, d in self.decoders.items()}  # fmt: skip
            for n, value in pngs.items():
                self.images[n].value = value
            if self.markers:
                left, top = self._plane_position()
                for marker in self.markers.values():
                    with marker.layout.hold_sync():
                        marker.layout.left, marker.layout.top = left, top
            for n, text in self.codes_text.items():
                text.value = _z_text(self.z_of(n))
            self.caption.value = _z_text(self.z, "u" if self.standardized else "z", self.digits)


def compare_explorer(
    decoders: Mapping[str, Decoder], z_range: tuple[float, float] = (-3.0, 3.0), **options: Any
) -> CompareExplorer:
    """Side-by-side decoders under one pair of sliders (06, 07).

    ``options``: codes (fair units per model), planes, presentation (see CompareExplorer).
    """
    return CompareExplorer(decoders, z_range, **options)


@torch.no_grad()
def _encode(model: Any, x: Tensor) -> Tensor:
    with single_thread():
        out = model.encoder(x.to(device_of(model)).reshape(1, 1, 28, 28))
    return (out[0] if isinstance(out, tuple) else out).reshape(-1).cpu()  # a VAE's mean mu


class InterpolationExplorer(_Picture, W.VBox):
    """A slider t from image a to image b: decoded (1-t) z_a + t z_b beside the pixel blend."""

    def __init__(self, model: Any, x_a: Tensor, x_b: Tensor, scale: int = 6) -> None:
        self.model, self.scale, self.timer = model, scale, _Timer()
        self.z_a, self.z_b = _encode(model, x_a), _encode(model, x_b)
        self.x_a = x_a.detach().float().cpu().reshape(28, 28).numpy()
        self.x_b = x_b.detach().float().cpu().reshape(28, 28).numpy()
        self.t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="t",
                               continuous_update=True, layout=W.Layout(width="360px"))  # fmt: skip
        self.latent_view = _decoded_view(None, scale)
        self.pixel_view = image_widget(scale=scale)
        self.caption = _readout("")
        self.t.observe(self.update, names="value")
        self.update()
        ends = [captioned(image_widget(self.x_a, scale), "x_a"),
                captioned(self.latent_view, "through the latent space"),
                captioned(self.pixel_view, "pixel blend"),
                captioned(image_widget(self.x_b, scale), "x_b")]  # fmt: skip
        super().__init__([self.t, W.HBox(ends), self.caption])
        self.add_class("aelib-explorer")
        self.add_class("aelib-interpolation-explorer")

    def picture(self) -> np.ndarray:
        """x_a, the decoded point, the pixel blend and x_b as a still."""
        t = self.t.value
        z = ((1 - t) * self.z_a + t * self.z_b).tolist()
        tiles = [self.x_a, decode_one(self.model.decoder, z), (1 - t) * self.x_a + t * self.x_b,
                 self.x_b]  # fmt: skip
        return side_by_side(tiles, 168)

    def update(self, change: object = None) -> None:
        """Decode the interpolated code and blend the pixels."""
        with self.timer:
            t = self.t.value
            z = ((1 - t) * self.z_a + t * self.z_b).tolist()
            decoded = decode_one(self.model.decoder, z)
            self.latent_view.value = png_bytes(decoded, self.scale)
            self.pixel_view.value = png_bytes((1 - t) * self.x_a + t * self.x_b, self.scale)
            self.caption.value = f"<code>t = {t:.2f}</code>, " + _z_text(z)


def interpolation_explorer(model: Any, x_a: Tensor, x_b: Tensor) -> InterpolationExplorer:
    """Walk from one image to another through the latent space, with the pixel blend (02, 06)."""
    [checks.single_image(x, n, "interpolation_explorer") for n, x in (("x_a", x_a), ("x_b", x_b))]
    return InterpolationExplorer(model, x_a, x_b)


class InterpolationPlayer(_Picture, W.VBox):
    """Interpolate between two test images chosen by class, through several models at once.

    For each model, h((1 - t) z_a + t z_b) with z_a, z_b its codes of the two images (a
    VAE's means mu), beside the pixel blend (1 - t) x_a + t x_b; a play button sweeps t,
    and a film strip per row shows the whole path at a glance. "another pair" takes the
    next test image of each class.
    """

    def __init__(
        self, models: Mapping[str, Any], x: Tensor, labels: Tensor,
        class_names: Sequence[str], pair: tuple[str, str] = ("Ankle boot", "Trouser"),
        frames: int = 50, scale: int = 6, *, presentation: bool = False,
        strip: int = 9, interval_ms: int = 60,
    ) -> None:  # fmt: skip
        if not models:
            raise ValueError("interpolation_player needs at least one model: {'VAE': vae}.")
        names = list(class_names)
        for c in pair:
            if c not in names:
                raise ValueError(f"Class {c!r} is not one of {names}.")
        self.models, self.x, self.labels = dict(models), x, labels.detach().cpu()
        self.class_names, self.scale, self.timer, self.strip_n = names, scale, _Timer(), strip
        self.example = 0
        self.class_a = W.Dropdown(options=names, value=pair[0], description="from",
                                  layout=W.Layout(width="auto"))  # fmt: skip
        self.class_b = W.Dropdown(options=names, value=pair[1], description="to",
                                  layout=W.Layout(width="auto"))  # fmt: skip
        self.another = W.Button(description="another pair", layout=W.Layout(width="auto"))
        self.another.add_class("aelib-preset")
        self.another.on_click(self._next_pair)
        self.t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=1 / frames, description="t",
                               continuous_update=True, readout_format=".2f",
                               layout=(W.Layout(width="auto", flex="1 1 0") if presentation
                                       else W.Layout(width="360px")))  # fmt: skip
        self.play = W.Play(value=frames // 2, min=0, max=frames, step=1, interval=interval_ms,
                           description="play", show_repeat=True)  # fmt: skip
        self.frames = frames
        main, end, frame = (MAIN, END, FRAME) if presentation else (None, None, None)
        self.end_a = _sized(image_widget(scale=scale), end)
        self.end_b = _sized(image_widget(scale=scale), end)
        self.end_a.add_class("aelib-end")
        self.end_b.add_class("aelib-end")
        self.views = {n: _decoded_view(None, scale, main) for n in self.models}
        self.blend = _sized(image_widget(scale=scale), main)
        self.blend.add_class("aelib-blend")
        self.strips = {n: W.Image(format="png") for n in [*self.models, "pixel blend"]}
        for img in self.strips.values():
            img.add_class("aelib-strip")
            if presentation:
                img.layout.height = frame
                img.layout.width = "auto"
                img.add_class("aelib-pixelated")
        self.caption = _readout("")
        self._linking = False
        self.t.observe(self.update, names="value")
        self.play.observe(self._on_play, names="value")
        for d in (self.class_a, self.class_b):
            d.observe(self._on_classes, names="value")
        self._choose()

        panels = ([captioned(self.end_a, "x_a")]
                  + [captioned(v, f"{n}: through the latent space")
                     for n, v in self.views.items()]
                  + [captioned(self.blend, "pixel blend"),
                     captioned(self.end_b, "x_b")])  # fmt: skip
        strip_rows = [W.HBox([W.HTML(f"<b>{n}</b>", layout=W.Layout(width="9em")), img],
                             layout=W.Layout(align_items="center"))
                      for n, img in self.strips.items()]  # fmt: skip
        gap = "1.2vw" if presentation else "8px"
        controls = W.HBox([self.class_a, self.class_b, self.another, self.play, self.t],
                          layout=W.Layout(width="100%", align_items="center", grid_gap=gap,
                                          flex_flow="row wrap"))  # fmt: skip
        self.help = _help(f"t from 0 to 1 in steps of {_fmt(1 / frames)} (← →, Page Up / Down "
                          f"by {_fmt(PAGE_STEPS / frames)}); the strips show t = 0 to 1 in "
                          f"{strip} frames.")  # fmt: skip
        super().__init__([
            _style(), controls,
            W.HBox(panels, layout=W.Layout(width="100%", align_items="flex-end", grid_gap=gap,
                                           justify_content="space-around" if presentation
                                           else "flex-start")),
            W.HBox([self.caption]), W.VBox(strip_rows), self.help,
        ], layout=W.Layout(width="100%") if presentation else W.Layout())  # fmt: skip
        self.add_class("aelib-explorer")
        self.add_class("aelib-interpolation-player")
        if presentation:
            self.add_class("aelib-presentation")

    def _index(self, class_name: str) -> int:
        idx = (self.labels == self.class_names.index(class_name)).nonzero().reshape(-1)
        if len(idx) == 0:
            raise ValueError(f"No test image of class {class_name!r}.")
        return int(idx[self.example % len(idx)])

    def _choose(self) -> None:
        """Take the endpoints of the chosen classes and redraw everything."""
        self.i_a, self.i_b = self._index(self.class_a.value), self._index(self.class_b.value)
        self.x_a = self.x[self.i_a].detach().float().cpu().reshape(28, 28).numpy()
        self.x_b = self.x[self.i_b].detach().float().cpu().reshape(28, 28).numpy()
        self.codes = {n: (_encode(m, self.x[self.i_a]), _encode(m, self.x[self.i_b]))
                      for n, m in self.models.items()}  # fmt: skip
        self.end_a.value = png_bytes(self.x_a, self.scale)
        self.end_b.value = png_bytes(self.x_b, self.scale)
        ts = torch.linspace(0, 1, self.strip_n)
        for n, m in self.models.items():
            za, zb = self.codes[n]
            path = (1 - ts[:, None]) * za + ts[:, None] * zb
            tiles = _decode_many(m.decoder, path)
            self.strips[n].value = png_bytes(side_by_side(list(tiles), 28, gap=2), 2)
        blends = [(1 - t) * self.x_a + t * self.x_b for t in ts.tolist()]
        self.strips["pixel blend"].value = png_bytes(side_by_side(blends, 28, gap=2), 2)
        self.update()

    def _on_classes(self, change: object = None) -> None:
        self.example = 0
        self._choose()

    def _next_pair(self, _button: object = None) -> None:
        self.example += 1
        self._choose()

    def _on_play(self, change: dict) -> None:
        if not self._linking:
            self._linking = True
            try:
                self.t.value = change["new"] / self.frames
            finally:
                self._linking = False

    def _decoded(self, t: float) -> dict[str, np.ndarray]:
        out = {}
        for n, m in self.models.items():
            za, zb = self.codes[n]
            out[n] = decode_one(m.decoder, ((1 - t) * za + t * zb).tolist())
        return out

    def picture(self) -> np.ndarray:
        """The end images, every model's decoding and the pixel blend at the current t."""
        t = self.t.value
        tiles = [self.x_a, *self._decoded(t).values(), (1 - t) * self.x_a + t * self.x_b,
                 self.x_b]  # fmt: skip
        return side_by_side(tiles, 196)

    def update(self, change: object = None) -> None:
        """Decode the interpolated codes of every model and blend the pixels."""
        with self.timer:
            t = self.t.value
            for n, pixels in self._decoded(t).items():
                self.views[n].value = png_bytes(pixels, self.scale)
            self.blend.value = png_bytes((1 - t) * self.x_a + t * self.x_b, self.scale)
            self.caption.value = f"<code>t = {t:.2f}</code>"
            if not self._linking:
                self._linking = True
                try:
                    self.play.value = round(t * self.frames)
                finally:
                    self._linking = False


def interpolation_player(
    models: Mapping[str, Any], x: Tensor, labels: Tensor, class_names: Sequence[str],
    pair: tuple[str, str] = ("Ankle boot", "Trouser"), **options: Any,
) -> InterpolationPlayer:  # fmt: skip
    """Interpolations of several models side by side, endpoints chosen by class, with play (09)."""
    return InterpolationPlayer(models, x, labels, class_names, pair, **options)


# ------------------------------------------------------------------ the app's set-up cell


@contextlib.contextmanager
def output_to_terminal(stream: Any = None) -> Iterator[None]:
    """Send the prints, warnings, log records and displays of the block to the terminal (09).

    A kernel's own stderr is the terminal that runs Voila (``make explore``) or nbconvert,
    not the page. ipykernel copies whatever reaches file descriptors 1 and 2 into the
    notebook, so the block writes to a duplicate of the descriptor that its stderr's
    ``fileno()`` gives (the terminal). Logging handlers that write to the notebook's
    streams are pointed there too while the block runs; progress bars and other displays
    are dropped.
    """
    target, opened = stream, None
    if target is None:
        try:  # ipykernel's stderr: fileno() is its copy of the real stderr, not the pipe
            opened = target = open(os.dup(sys.stderr.fileno()), "w", buffering=1,  # noqa: SIM115
                                   encoding="utf-8", errors="replace")  # fmt: skip
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            target = sys.__stderr__ or io.StringIO()
    notebook_streams = {id(sys.stdout), id(sys.stderr)}
    moved = []
    loggers = [logging.getLogger(), *[lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger)]]  # fmt: skip
    for lg in loggers:
        for h in lg.handlers:
            if isinstance(h, logging.StreamHandler) and id(h.stream) in notebook_streams:
                moved.append((h, h.setStream(target)))
    try:
        from IPython.utils.capture import capture_output

        displays = capture_output(stdout=False, stderr=False, display=True)
    except ImportError:  # plain Python: nothing is displayed anyway
        displays = contextlib.nullcontext()
    notebook_stderr = sys.stderr
    try:
        with contextlib.redirect_stdout(target), contextlib.redirect_stderr(target), displays:
            yield
    finally:
        for h, old in moved:
            h.setStream(old)
        # a handler made inside the block (a module imported there) would keep the target
        for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for h in getattr(lg, "handlers", []):
                if isinstance(h, logging.StreamHandler) and h.stream is target:
                    h.setStream(notebook_stderr)
        with contextlib.suppress(Exception):
            target.flush()
        if opened is not None:
            opened.close()


# ----------------------------------------------------------- the notebooks' small sliders


def _as_widget(name: str, spec: Any) -> W.ValueWidget:
    if isinstance(spec, W.ValueWidget):
        return spec
    if isinstance(spec, tuple) and len(spec) in (3, 4):
        lo, hi, step = spec[:3]
        value = spec[3] if len(spec) == 4 else lo
        return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=name,
                             continuous_update=True, layout=W.Layout(width="360px"))  # fmt: skip
    if isinstance(spec, (list, dict)):
        return W.Dropdown(options=spec, description=name)
    raise TypeError(f"Slider {name!r}: give a widget, a (min, max, step[, value]) tuple or a list.")


class LiveImages(W.VBox):
    """Sliders that re-run ``render(**values) -> {caption: (H, W) array}`` and show the images."""

    def __init__(self, render: Callable[..., Mapping[str, np.ndarray]], scale: int = 5,
                 **sliders: Any) -> None:  # fmt: skip
        self.render, self.scale, self.timer = render, scale, _Timer()
        self.controls = {n: _as_widget(n, s) for n, s in sliders.items()}
        first = render(**self.values)
        self.images = {c: image_widget(p, scale) for c, p in first.items()}
        for w in self.controls.values():
            w.observe(self.update, names="value")
        panels = [captioned(img, c) for c, img in self.images.items()]
        super().__init__([W.HBox(list(self.controls.values())), W.HBox(panels)])

    @property
    def values(self) -> dict[str, Any]:
        """The sliders' current values by name."""
        return {n: w.value for n, w in self.controls.items()}

    def update(self, change: object = None) -> None:
        """Re-render and push the new images."""
        with self.timer:
            with single_thread():
                rendered = self.render(**self.values)
            for c, p in rendered.items():
                self.images[c].value = png_bytes(p, self.scale)


def live_images(render: Callable[..., Mapping[str, np.ndarray]], **sliders: Any) -> LiveImages:
    """Small image sliders, e.g. the noise level of the denoising AE (03)."""
    return LiveImages(render, **sliders)


class LiveFigure(W.VBox):
    """Sliders that redraw a matplotlib figure with ``draw(fig, **values)`` into one image."""

    def __init__(self, draw: Callable[..., None], figsize: tuple[float, float] = (8, 3),
                 **sliders: Any) -> None:  # fmt: skip
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.draw, self.timer = draw, _Timer()
        self.fig = Figure(figsize=figsize, dpi=80)
        FigureCanvasAgg(self.fig)
        self.controls = {n: _as_widget(n, s) for n, s in sliders.items()}
        self.view = W.Image(format="png")
        for w in self.controls.values():
            w.observe(self.update, names="value")
        self.update()
        super().__init__([W.HBox(list(self.controls.values())), self.view])

    def update(self, change: object = None) -> None:
        """Clear the figure, draw it again and push the PNG."""
        with self.timer:
            self.fig.clear()
            with single_thread():
                self.draw(self.fig, **{n: w.value for n, w in self.controls.items()})
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png")
            self.view.value = buf.getvalue()


def live_figure(draw: Callable[..., None], figsize: tuple[float, float] = (8, 3),
                **sliders: Any) -> LiveFigure:  # fmt: skip
    """A figure under sliders, e.g. mu and sigma in 05 or beta in 04."""
    return LiveFigure(draw, figsize, **sliders)
