"""Sliders that walk the latent space (ipywidgets 8), fast enough to drag (02-08).

Why they feel instant: nothing here redraws a matplotlib figure on a slider move. The
latent scatter is rendered once; a move decodes one code, draws the marker into a copy of
the scatter's pixels and sends two small PNGs. The front end already coalesces a fast drag
(ipywidgets keeps at most one change in flight and sends only the latest value), so a
handler that returns in milliseconds never builds a queue.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor

Decoder = Callable[[Tensor], Tensor]


# ------------------------------------------------------------------------ small pieces


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """Encode a (H, W) gray or (H, W, 3) RGB array in [0, 1] or uint8 as PNG, upscaled."""
    arr = pixels if pixels.dtype == np.uint8 else (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    img = PILImage.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)  # fast; these images are tiny
    return buf.getvalue()


def _device(module: Any) -> torch.device:
    params = getattr(module, "parameters", None)
    p = next(params(), None) if params else None
    return p.device if p is not None else torch.device("cpu")


def _latent_dims(decoder: Any) -> int:
    return int(getattr(decoder, "latent_dims", 2))


@torch.no_grad()
def decode_one(decoder: Decoder, z: Sequence[float]) -> np.ndarray:
    """Decode one code to a (28, 28) array on the CPU."""
    zt = torch.tensor([list(z)], dtype=torch.float32, device=_device(decoder))
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


def _slider(name: str, lo: float, hi: float, value: float | None = None, steps: int = 200):
    return W.FloatSlider(
        value=(lo + hi) / 2 if value is None else value, min=lo, max=hi, step=(hi - lo) / steps,
        description=name, continuous_update=True, readout_format=".2f",
        layout=W.Layout(width="360px"),
    )  # fmt: skip


class _Timer:
    """Records the Python-side time of each update, for benchmarks and the curious."""

    def __init__(self) -> None:
        self.times_ms: list[float] = []

    def __enter__(self) -> _Timer:
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.times_ms.append((time.perf_counter() - self._t) * 1e3)


# ------------------------------------------------------------------- the latent scatter


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
        self.height = self.base.shape[0]

    def pixel(self, z: Sequence[float]) -> tuple[int, int]:
        """Row and column of the code ``z`` in the rendered scatter."""
        x, y = self._to_px.transform((float(z[0]), float(z[1])))
        return int(round(self.height - y)), int(round(x))

    def with_marker(self, z: Sequence[float], radius: int = 6) -> np.ndarray:
        """A copy of the scatter with a ring and crosshair at ``z``."""
        img = self.base.copy()
        r, c = self.pixel(z)
        h, w = img.shape[:2]
        rr, cc = np.ogrid[:h, :w]
        d2 = (rr - r) ** 2 + (cc - c) ** 2
        img[(d2 <= (radius + 1.5) ** 2) & (d2 >= (radius - 1.5) ** 2)] = (0, 0, 0)
        img[(d2 <= (radius - 1.5) ** 2)] = (255, 215, 0)
        img[max(r - 1, 0) : r + 1, max(c - 2 * radius, 0) : c + 2 * radius] = 0
        img[max(r - 2 * radius, 0) : r + 2 * radius, max(c - 1, 0) : c + 1] = 0
        return img


def _range_of(codes: Tensor | None, k: int, prior: tuple[float, float]) -> tuple[float, float]:
    if codes is None:
        return prior
    col = codes[:, k].detach().float().cpu()
    lo, hi = float(col.quantile(0.005)), float(col.quantile(0.995))
    pad = 0.1 * (hi - lo)
    return (round(lo - pad, 2), round(hi + pad, 2))


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
        self.z1 = _slider("z1", *r1, value=min(max(start[0], r1[0]), r1[1]))
        self.z2 = _slider("z2", *r2, value=min(max(start[1], r2[0]), r2[1]))
        self.image = image_widget(decode_one(decoder, (self.z1.value, self.z2.value)), scale)
        shown = codes if codes is not None else torch.zeros(0, 2)
        self.scatter = LatentScatter(shown, labels if codes is not None else None,
                                     class_names, r1, r2)  # fmt: skip
        self.scatter_view = W.Image(value=png_bytes(self.scatter.with_marker(self.z)), format="png")
        self.caption = W.HTML(self._caption())
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")
        super().__init__([
            W.HBox([self.z1, self.z2]),
            W.HBox([captioned(self.image, "decoded h(z)"), self.scatter_view],
                   layout=W.Layout(align_items="center")),
            self.caption,
        ])  # fmt: skip
        self.add_class("aelib-latent-explorer")

    @property
    def z(self) -> tuple[float, float]:
        """The current code (z1, z2)."""
        return (self.z1.value, self.z2.value)

    def _caption(self) -> str:
        return f"<code>z = ({self.z1.value:+.2f}, {self.z2.value:+.2f})</code>"

    def update(self, change: object = None) -> None:
        """Decode the current code and redraw the image and the marker."""
        with self.timer:
            z = self.z
            pixels = decode_one(self.decoder, z)
            marked = self.scatter.with_marker(z)
            with self.hold_sync():
                self.image.value = png_bytes(pixels, self.scale)
                self.scatter_view.value = png_bytes(marked)
                self.caption.value = self._caption()


def latent_explorer(
    decoder: Decoder,
    codes: Tensor | None = None,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    prior: tuple[float, float] = (-3.0, 3.0),
) -> LatentExplorer:
    """Walk a 2-D latent space: ranges from ``codes``, or from ``prior`` for a VAE or GAN (02)."""
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
        self.images = {n: image_widget(decode_one(d, (0.0, 0.0)), scale)
                       for n, d in self.decoders.items()}  # fmt: skip
        for s in (self.z1, self.z2):
            s.observe(self.update, names="value")
        panels = [captioned(img, name) for name, img in self.images.items()]
        super().__init__([W.HBox([self.z1, self.z2]), W.HBox(panels)])
        self.add_class("aelib-compare-explorer")

    def update(self, change: object = None) -> None:
        """Decode the current code with every decoder."""
        with self.timer:
            z = (self.z1.value, self.z2.value)
            pngs = {n: png_bytes(decode_one(d, z), self.scale) for n, d in self.decoders.items()}
            with self.hold_sync():
                for n, value in pngs.items():
                    self.images[n].value = value


def compare_explorer(
    decoders: Mapping[str, Decoder], z_range: tuple[float, float] = (-3.0, 3.0)
) -> CompareExplorer:
    """Side-by-side decoders under one pair of sliders (06, 07)."""
    return CompareExplorer(decoders, z_range)


@torch.no_grad()
def _encode(model: Any, x: Tensor) -> Tensor:
    out = model.encoder(x.to(_device(model)).reshape(1, 1, 28, 28))
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
        self.latent_view = image_widget(scale=scale)
        self.pixel_view = image_widget(scale=scale)
        self.t.observe(self.update, names="value")
        self.update()
        ends = [captioned(image_widget(self.x_a, scale), "x_a"),
                captioned(self.latent_view, "through the latent space"),
                captioned(self.pixel_view, "pixel blend"),
                captioned(image_widget(self.x_b, scale), "x_b")]  # fmt: skip
        super().__init__([self.t, W.HBox(ends)])
        self.add_class("aelib-interpolation-explorer")

    def update(self, change: object = None) -> None:
        """Decode the interpolated code and blend the pixels."""
        with self.timer:
            t = self.t.value
            z = ((1 - t) * self.z_a + t * self.z_b).tolist()
            decoded = decode_one(self.model.decoder, z)
            with self.hold_sync():
                self.latent_view.value = png_bytes(decoded, self.scale)
                self.pixel_view.value = png_bytes((1 - t) * self.x_a + t * self.x_b, self.scale)


def interpolation_explorer(model: Any, x_a: Tensor, x_b: Tensor) -> InterpolationExplorer:
    """Walk from one image to another through the latent space, with the pixel blend (02, 06)."""
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
            pngs = {c: png_bytes(p, self.scale) for c, p in self.render(**self.values).items()}
            with self.hold_sync():
                for c, value in pngs.items():
                    self.images[c].value = value


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
            self.draw(self.fig, **{n: w.value for n, w in self.controls.items()})
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png")
            self.view.value = buf.getvalue()


def live_figure(draw: Callable[..., None], figsize: tuple[float, float] = (8, 3),
                **sliders: Any) -> LiveFigure:  # fmt: skip
    """A figure under sliders, e.g. mu and sigma in 05 or beta in 04."""
    return LiveFigure(draw, figsize, **sliders)
