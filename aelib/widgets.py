"""Sliders that walk the latent space (ipywidgets 8), fast enough to drag (02-09).

Why they feel instant (measured in benchmarks/widget_latency.py):

* Nothing redraws a matplotlib figure on a slider move. The latent scatter is rendered
  once and sent once; the current point is a small marker image laid over it (a CSS grid
  cell shared by both), so a move only changes the marker's margin: a message of a few
  hundred bytes instead of a new 80 kB scatter PNG.
* The decoder runs on ONE intra-op thread while it decodes one code. With the default
  thread pool, a (1, 2) input still wakes every worker; on a busy 2-core machine one such
  decode took 20 ms instead of 0.05 ms.
* A move sends one 28x28 image upscaled by the front end's pixels (a PNG of a few kB,
  compress_level=1) and a one-line readout.

Fast drags do not queue redraws: the ipywidgets front end keeps at most one update per
widget in flight (``_pending_msgs``); while the kernel is busy, newer slider values
overwrite one buffered message (``_msg_buffer``), sent when the kernel reports idle. So
the kernel only ever sees the latest value, and a handler that returns in a few
milliseconds keeps up with a drag. tests/browser/ checks this with a slow decoder.
"""

from __future__ import annotations

import contextlib
import io
import math
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


# ------------------------------------------------------------------------ small pieces


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """Encode a (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA array in [0, 1] or uint8 as PNG."""
    arr = pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    img = PILImage.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)  # fast; these images are tiny
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


def image_widget(pixels: np.ndarray | None = None, scale: int = 6, size: int = 28) -> W.Image:
    """An ipywidgets Image showing ``pixels`` (or black) at ``scale`` times their size."""
    pixels = np.zeros((size, size), np.float32) if pixels is None else pixels
    h, w = pixels.shape[:2]
    return W.Image(value=png_bytes(pixels, scale), format="png",
                   layout=W.Layout(width=f"{w * scale}px", height=f"{h * scale}px"))  # fmt: skip


def captioned(child: W.Widget, caption: str) -> W.VBox:
    """A widget with a centred caption above it."""
    label = W.HTML(f"<div style='text-align:center;font-weight:bold'>{caption}</div>")
    return W.VBox([label, child], layout=W.Layout(align_items="center"))


def _nice_step(span: float, steps: int = 200) -> float:
    """The largest of 1, 2, 5 x 10^k not above span / steps: readouts stay round numbers."""
    raw = span / steps
    base = 10 ** math.floor(math.log10(raw))
    return max(m * base for m in (1, 2, 5) if m * base <= raw * (1 + 1e-9))


def _slider(name: str, lo: float, hi: float, value: float | None = None, steps: int = 200):
    if not hi > lo:  # e.g. codes that all coincide: give the slider some room
        lo, hi = lo - 0.5, lo + 0.5
    step = _nice_step(hi - lo, steps)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    value = (lo + hi) / 2 if value is None else min(max(value, lo), hi)
    snap = lambda v: round(round(v / step) * step, 10)
    return W.FloatSlider(
        value=snap(value), min=snap(lo), max=snap(hi), step=step, description=name,
        continuous_update=True, readout_format=".2f", layout=W.Layout(width="360px"),
    )  # fmt: skip


def _readout(text: str) -> W.HTML:
    """The kernel's own readout of the current value (the browser tests wait for it)."""
    out = W.HTML(text)
    out.add_class("aelib-readout")
    return out


def _decoded_view(pixels: np.ndarray | None, scale: int) -> W.Image:
    img = image_widget(pixels, scale)
    img.add_class("aelib-decoded")
    return img


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


class LatentScatter:
    """The codes' scatter, rendered once to pixels; ``with_marker(z)`` adds the current point."""

    def __init__(
        self,
        codes: Tensor,
        labels: Tensor | None,
        class_names: Sequence[str] | None,
        z1_range: tuple[float, float],
        z2_range: tuple[float, float],
        size_px: int = 320,
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plots import plot_latent

        dpi = 80
        fig = Figure(figsize=(size_px / dpi * 1.45, size_px / dpi), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.12, 0.12, 0.58, 0.83))
        plot_latent(codes, labels, class_names, ax=ax, s=2.0, alpha=0.4)
        ax.set_xlim(*z1_range)
        ax.set_ylim(*z2_range)
        fig.canvas.draw()
        self.base = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        self._to_px = ax.transData  # data -> display pixels (origin bottom left)
        self.height, self.width = self.base.shape[:2]

    def pixel(self, z: Sequence[float]) -> tuple[int, int]:
        """Row and column of the code ``z`` in the rendered scatter (clipped to the image)."""
        x, y = self._to_px.transform((float(z[0]), float(z[1])))
        r, c = int(round(self.height - y)), int(round(x))
        return min(max(r, 0), self.height - 1), min(max(c, 0), self.width - 1)

    def with_marker(self, z: Sequence[float], radius: int = 6) -> np.ndarray:
        """A copy of the scatter with the marker at ``z`` drawn in (a static snapshot)."""
        img = self.base.copy()
        marker = _marker_pixels(radius)
        r, c = self.pixel(z)
        h, w = img.shape[:2]
        half = 2 * radius
        r0, c0 = r - half, c - half
        rs = slice(max(r0, 0), min(r0 + marker.shape[0], h))
        cs = slice(max(c0, 0), min(c0 + marker.shape[1], w))
        m = marker[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
        alpha = m[..., 3:] / 255.0
        img[rs, cs] = (alpha * m[..., :3] + (1 - alpha) * img[rs, cs]).astype(np.uint8)
        return img


def _range_of(codes: Tensor | None, k: int, prior: tuple[float, float]) -> tuple[float, float]:
    if codes is None:
        return prior
    col = codes[:, k].detach().float().cpu()
    lo, hi = float(col.quantile(0.005)), float(col.quantile(0.995))
    pad = 0.1 * (hi - lo)
    return (round(lo - pad, 2), round(hi + pad, 2))


def _z_text(z: Sequence[float]) -> str:
    return "<code>z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")</code>"


# ------------------------------------------------------------------------- explorers


class LatentExplorer(W.VBox):
    """Sliders for (z1, z2), the decoded image and the latent scatter with the point marked."""

    def __init__(
        self,
        decoder: Decoder,
        codes: Tensor | None = None,
        labels: Tensor | None = None,
        class_names: Sequence[str] | None = None,
        prior: tuple[float, float] = (-3.0, 3.0),
        scale: int = 8,
    ) -> None:
        if _latent_dims(decoder) != 2:
            raise ValueError("The latent explorer walks a 2-D latent space; this decoder has "
                             f"latent_dims={_latent_dims(decoder)}.")  # fmt: skip
        self.decoder, self.scale, self.timer = decoder, scale, _Timer()
        r1, r2 = _range_of(codes, 0, prior), _range_of(codes, 1, prior)
        start = (0.0, 0.0)
        if codes is not None:
            start = tuple(codes.detach().float().median(0).values.tolist())
        self.z1 = _slider("z1", *r1, value=start[0])
        self.z2 = _slider("z2", *r2, value=start[1])
        self.image = _decoded_view(decode_one(decoder, self.z), scale)
        shown = codes if codes is not None else torch.zeros(0, 2)
        ranges = (self.z1.min, self.z1.max), (self.z2.min, self.z2.max)
        self.scatter = LatentScatter(shown, labels if codes is not None else None, class_names,
                                     *ranges)  # fmt: skip
        h, w = self.scatter.height, self.scatter.width
        # The scatter is sent once; the marker is a small image in the same grid cell,
        # moved by its margin. A move pushes a margin, not a new scatter PNG.
        self.scatter_view = W.Image(value=png_bytes(self.scatter.base), format="png",
                                    layout=W.Layout(grid_area="plot", width=f"{w}px",
                                                    height=f"{h}px"))  # fmt: skip
        self._marker_half = 12
        self.marker = W.Image(value=png_bytes(_marker_pixels(6)), format="png",
                              layout=W.Layout(grid_area="plot", width="25px", height="25px",
                                              margin=self._margin()))  # fmt: skip
        self.marker.add_class("aelib-marker")
        plot = W.GridBox([self.scatter_view, self.marker],
                         layout=W.Layout(grid_template_areas='"plot"', justify_items="flex-start",
                                         align_items="flex-start", width=f"{w}px",
                                         height=f"{h}px"))  # fmt: skip
        self.caption = _readout(_z_text(self.z))
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")
        super().__init__([
            W.HBox([self.z1, self.z2]),
            W.HBox([captioned(self.image, "decoded h(z)"), plot],
                   layout=W.Layout(align_items="center")),
            self.caption,
        ])  # fmt: skip
        self.add_class("aelib-latent-explorer")

    @property
    def z(self) -> tuple[float, float]:
        """The current code (z1, z2)."""
        return (self.z1.value, self.z2.value)

    def _margin(self) -> str:
        r, c = self.scatter.pixel(self.z)
        return f"{r - self._marker_half}px 0 0 {c - self._marker_half}px"

    def snapshot(self) -> np.ndarray:
        """The scatter with the marker drawn in, as pixels (for a static figure)."""
        return self.scatter.with_marker(self.z)

    def update(self, change: object = None) -> None:
        """Decode the current code, move the marker and update the readout."""
        with self.timer:
            z = self.z
            self.image.value = png_bytes(decode_one(self.decoder, z), self.scale)
            self.marker.layout.margin = self._margin()
            self.caption.value = _z_text(z)


def latent_explorer(
    decoder: Decoder,
    codes: Tensor | None = None,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    prior: tuple[float, float] = (-3.0, 3.0),
) -> LatentExplorer:
    """Walk a 2-D latent space: ranges from ``codes``, or from ``prior`` for a VAE or GAN (02)."""
    codes is None or checks.points(codes, "codes", "latent_explorer", dims=2)
    labels is None or codes is None or checks.labels(labels, len(codes), who="latent_explorer")
    return LatentExplorer(decoder, codes, labels, class_names, prior)


class CompareExplorer(W.VBox):
    """One (z1, z2) drives several decoders side by side."""

    def __init__(
        self, decoders: Mapping[str, Decoder], z_range: tuple[float, float] = (-3.0, 3.0),
        scale: int = 6,
    ) -> None:  # fmt: skip
        if not decoders:
            raise ValueError("compare_explorer needs at least one decoder: {'AE': ae.decoder}.")
        self.decoders, self.scale, self.timer = dict(decoders), scale, _Timer()
        self.z1 = _slider("z1", *z_range, value=0.0)
        self.z2 = _slider("z2", *z_range, value=0.0)
        self.images = {n: _decoded_view(decode_one(d, self.z), scale)
                       for n, d in self.decoders.items()}  # fmt: skip
        self.caption = _readout(_z_text(self.z))
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")
        panels = [captioned(img, name) for name, img in self.images.items()]
        super().__init__([W.HBox([self.z1, self.z2]), W.HBox(panels), self.caption])
        self.add_class("aelib-compare-explorer")

    @property
    def z(self) -> tuple[float, float]:
        """The current code (z1, z2)."""
        return (self.z1.value, self.z2.value)

    def update(self, change: object = None) -> None:
        """Decode the current code with every decoder."""
        with self.timer:
            z = self.z
            pngs = {n: png_bytes(decode_one(d, z), self.scale) for n, d in self.decoders.items()}
            for n, value in pngs.items():
                self.images[n].value = value
            self.caption.value = _z_text(z)


def compare_explorer(
    decoders: Mapping[str, Decoder], z_range: tuple[float, float] = (-3.0, 3.0)
) -> CompareExplorer:
    """Side-by-side decoders under one pair of sliders (06, 07)."""
    return CompareExplorer(decoders, z_range)


@torch.no_grad()
def _encode(model: Any, x: Tensor) -> Tensor:
    with single_thread():
        out = model.encoder(x.to(device_of(model)).reshape(1, 1, 28, 28))
    return (out[0] if isinstance(out, tuple) else out).reshape(-1)  # a VAE's mean mu


class InterpolationExplorer(W.VBox):
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
        self.add_class("aelib-interpolation-explorer")

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
