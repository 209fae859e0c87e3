"""aelib.widgets: a slider move changes what is shown, and only through the decoder.

The presets, steps and units are checked against independent computations: class
medians against torch's median per class, the widest gap against a brute-force search,
the keyboard step against its definition, the standard units against m + s * u.
"""

from __future__ import annotations

import io
import logging
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from aelib import models
from aelib import widgets as AW


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


def as_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


class ConstantDecoder(torch.nn.Module):
    """A decoder that ignores z: the negative control."""

    latent_dims = 2

    def forward(self, z):
        return torch.full((len(z), 1, 28, 28), 0.5)


class LinearDecoder(torch.nn.Module):
    """Pixel 0 is a * z1 + b * z2 (+ 0.5); every other pixel is 0.5."""

    latent_dims = 2

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, z):
        out = torch.full((len(z), 1, 28, 28), 0.5)
        out[:, 0, 0, 0] += self.a * z[:, 0] + self.b * z[:, 1]
        return out


@pytest.fixture
def ae():
    torch.manual_seed(0)
    return models.Autoencoder().eval()


@pytest.fixture
def labelled():
    """Codes in three clusters (an odd number each: one median), labels and names."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
    codes = torch.cat([c + torch.randn(301, 2, generator=g) for c in centres])
    labels = torch.arange(3).repeat_interleave(301)
    return codes, labels, ["a", "b", "c"]


def test_latent_explorer_redraws_image_and_moves_marker(ae):
    codes = torch.randn(500, 2)
    ex = AW.latent_explorer(ae.decoder, codes, torch.randint(0, 10, (500,)), list("abcdefghij"))
    image0, scatter0 = pixels(ex.image.value), ex.scatter_view.value
    where0 = (ex.marker.layout.left, ex.marker.layout.top)
    ex.z1.value = ex.z1.max
    assert np.abs(pixels(ex.image.value) - image0).sum() > 0
    assert (ex.marker.layout.left, ex.marker.layout.top) != where0, "the marker moves"
    assert ex.scatter_view.value == scatter0, "the scatter itself is sent once, never again"
    assert "z = (+" in ex.caption.value
    ex.z1.value = ex.z1.min
    assert len(ex.timer.times_ms) == 2 and ex.timer.median_ms > 0


@pytest.mark.parametrize("presentation", [False, True])
def test_marker_sits_on_the_code(ae, presentation):
    ex = AW.latent_explorer(ae.decoder, torch.randn(500, 2), presentation=presentation)
    ex.set_z((0.0, 0.0))
    r, c = ex.scatter.pixel((0.0, 0.0))
    left, top = (float(v.removesuffix("%")) for v in (ex.marker.layout.left, ex.marker.layout.top))
    assert round(left * ex.scatter.width / 100) == c and round(top * ex.scatter.height / 100) == r
    snap = ex.snapshot()
    assert tuple(snap[r, c]) == (255, 215, 0), "the static snapshot has the gold dot there"


def test_a_click_on_the_scatter_jumps_to_the_code_under_it(ae):
    ex = AW.latent_explorer(ae.decoder, torch.randn(500, 2))
    z = (0.73, -1.21)
    r, c = ex.scatter.pixel(z)
    back = ex.scatter.code_at(c / ex.scatter.width, r / ex.scatter.height)
    per_px = [(s.max - s.min) / ex.scatter.width * 2 for s in (ex.z1, ex.z2)]
    assert abs(back[0] - z[0]) <= per_px[0] and abs(back[1] - z[1]) <= per_px[1]
    ex.click.value = f"{c / ex.scatter.width},{r / ex.scatter.height},1"
    for got, want, s in zip(ex.z, back, (ex.z1, ex.z2)):
        assert abs(got - want) <= s.step / 2 + 1e-9, "snapped to the slider's step"
    assert len(ex.timer.times_ms) == 1, "one decode for both sliders"
    before = ex.z
    ex.click.value = "2.0,0.5,2"  # outside the image: ignored
    ex.click.value = "not,a,click"
    assert ex.z == before


def test_slider_steps_are_round_numbers():
    s = AW._slider("z1", -3.4137, 2.8712)
    assert s.step == 0.02 and s.min == -3.42 and s.max == 2.88
    assert AW._nice_step(6.0) == 0.02 and AW._nice_step(1.0) == 0.005
    assert AW._slider("z", 1.0, 1.0).max > AW._slider("z", 1.0, 1.0).min
    assert AW._nice_ladder(0.03, 0.3) == [0.02, 0.05, 0.1, 0.2]
    s = AW._slider("z1", -3.4, 2.9, step=0.5)
    assert (s.min, s.max, s.step) == (-3.5, 3.0, 0.5)


def test_the_keyboard_step_is_the_smallest_round_step_that_changes_a_pixel_visibly():
    # pixel 0 changes by 0.3 per unit of z1: a step s is visible when 0.3 s >= 0.1
    dec = LinearDecoder(0.3, 0.01)
    z = torch.randn(16, 2)
    ladder = AW._nice_ladder(10 / 200, 10 / 20)  # 0.05 ... 0.5
    expected = min(s for s in ladder if 0.3 * s >= AW.VISIBLE_CHANGE - 1e-9)
    assert AW.visible_step(dec, z, 0, 10.0) == expected == 0.5
    assert AW.visible_step(dec, z, 1, 10.0) == ladder[-1], "never visible: the largest"
    assert AW.visible_step(ConstantDecoder(), z, 0, 10.0) == ladder[-1]


class Waves(torch.nn.Module):
    """Stripes whose angle and phase follow z: a decoder more sensitive in some places."""

    latent_dims = 2

    def forward(self, z):
        u = torch.linspace(-1, 1, 28)
        yy, xx = torch.meshgrid(u, u, indexing="ij")
        z1, z2 = z[:, 0, None, None], z[:, 1, None, None]
        return (0.5 + 0.5 * torch.sin(2.0 * (xx * z1 + yy * z2) + 0.2 * z1)).unsqueeze(1)


def test_the_explorer_steps_change_the_image_visibly_and_are_the_smallest_that_do():
    codes = torch.randn(400, 2, generator=torch.Generator().manual_seed(0)) * 3
    dec = Waves()
    ex = AW.latent_explorer(dec, codes)
    probe = codes[:: len(codes) // 32]
    for axis, step in enumerate(ex.steps):
        def change(s, axis=axis):
            d = torch.zeros(2)
            d[axis] = s
            diff = (dec(probe + d) - dec(probe)).abs().flatten(1).max(1).values
            return float(diff.median())

        ladder = AW._nice_ladder(*(np.array(AW._range_of(codes, axis, (0, 0))) @ [-1, 1]
                                   / np.array([200, 20])))  # fmt: skip
        assert ladder[0] < step < ladder[-1], "neither end of the ladder: a real choice"
        assert change(step) >= AW.VISIBLE_CHANGE
        assert all(change(s) < AW.VISIBLE_CHANGE for s in ladder if s < step), "the smallest"
    shown = AW._steps_text(ex.steps, ("z₁", "z₂"))
    assert shown in ex.help.value and all(AW._fmt(5 * s) in shown for s in ex.steps)


def test_class_medians_are_each_class_s_median(labelled):
    codes, labels, names = labelled
    medians = AW.class_medians(codes, labels, names)
    for k, name in enumerate(names):
        ref = np.median(codes[labels == k].numpy(), axis=0)  # 301 codes: one middle value
        np.testing.assert_allclose(medians[name], ref, rtol=0, atol=1e-6)


def test_convex_hull_of_a_square_with_points_inside():
    rng = np.random.default_rng(0)
    pts = np.vstack([rng.uniform(0, 1, (200, 2)), [[0, 0], [1, 0], [1, 1], [0, 1]]])
    hull = AW.convex_hull(pts)
    assert sorted(map(tuple, hull.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_the_widest_gap_is_the_largest_empty_circle_inside_the_codes():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 10, (6000, 2))
    pts = pts[np.hypot(pts[:, 0] - 6, pts[:, 1] - 4) > 2.0]  # a hole of radius 2 at (6, 4)
    gap = AW.widest_gap(torch.tensor(pts, dtype=torch.float32))
    assert np.hypot(gap[0] - 6, gap[1] - 4) < 0.3
    # brute force: no point of a fine grid inside the square is farther from every code
    # (in units of each coordinate's standard deviation, as widest_gap measures)
    scale = pts.std(0, ddof=1)
    g = np.stack(np.meshgrid(np.linspace(0.5, 9.5, 181), np.linspace(0.5, 9.5, 181)), -1)
    g = g.reshape(-1, 2)
    nearest = np.array([np.min(np.hypot(*((pts - p) / scale).T)) for p in g[::7]])
    found = np.min(np.hypot(*((pts - np.array(gap)) / scale).T))
    assert found >= 0.97 * nearest.max()


def test_presets_jump_to_their_codes_and_reset_returns(labelled):
    codes, labels, names = labelled
    ex = AW.latent_explorer(LinearDecoder(0.3, 0.2), codes, labels, names)
    start, image0 = ex.z, pixels(ex.image.value)
    snap = lambda z: tuple(AW._snap(v, s.step) for v, s in zip(z, (ex.z1, ex.z2)))  # noqa: E731
    ex.jump("c")
    assert ex.z == snap(AW.class_medians(codes, labels, names)["c"])
    assert not np.array_equal(pixels(ex.image.value), image0)
    ex.jump("widest gap")
    assert ex.z == snap(AW.widest_gap(codes))
    ex.jump("sample")
    first = ex.z
    ex.jump("sample")
    assert ex.z != first, "each press draws a new sample"
    ex.jump("reset")
    assert ex.z == start and np.array_equal(pixels(ex.image.value), image0)
    presets = next(w for w in ex.children if "aelib-presets" in w._dom_classes)
    kinds = {c for b in presets.children for c in b._dom_classes}
    assert {"aelib-preset-class", "aelib-preset-gap", "aelib-preset-prior",
            "aelib-preset-reset"} <= kinds  # fmt: skip


def test_prior_samples_come_from_the_stated_distribution(labelled):
    codes, labels, names = labelled
    for kind, mean, std in (("normal", torch.zeros(2), torch.ones(2)),
                            ("codes", codes.mean(0), codes.std(0))):  # fmt: skip
        ex = AW.latent_explorer(LinearDecoder(0.3, 0.2), codes, labels, names, prior_sample=kind)
        draws = torch.tensor([ex.presets["sample"]() for _ in range(2000)])
        assert torch.allclose(draws.mean(0), mean, atol=0.1 * float(std.max()))
        assert torch.allclose(draws.std(0), std, rtol=0.08)
    with pytest.raises(ValueError, match="prior_sample"):
        AW.latent_explorer(LinearDecoder(0.3, 0.2), prior_sample="codes")


def test_negative_control_decoder_never_changes_the_image():
    ex = AW.latent_explorer(ConstantDecoder())
    before = pixels(ex.image.value)
    ex.z1.value = ex.z1.max
    assert np.array_equal(pixels(ex.image.value), before)


def test_prior_ranges_without_codes(ae):
    ex = AW.latent_explorer(ae.decoder)
    assert (ex.z1.min, ex.z1.max) == (-3.0, 3.0)


def test_presentation_sizes_in_units_of_the_window(ae):
    ex = AW.latent_explorer(ae.decoder, torch.randn(500, 2), presentation=True)
    assert "aelib-presentation" in ex._dom_classes and ex.layout.width == "100%"
    assert ex.image.layout.width == AW.IMAGE and "aelib-pixelated" in ex.image._dom_classes
    assert ex.scatter.height == AW.SCATTER_PX and ex.z1.layout.flex == "1 1 0"
    assert "--aelib-font: clamp(16px, 1.25vw, 40px)" in ex.children[0].value


def test_compare_explorer_updates_every_panel(ae):
    torch.manual_seed(1)
    other = models.Autoencoder().eval()
    ce = AW.compare_explorer({"A": ae.decoder, "B": other.decoder})
    before = {n: pixels(w.value) for n, w in ce.images.items()}
    ce.z2.value = ce.z2.max
    assert all(np.abs(pixels(w.value) - before[n]).sum() > 0 for n, w in ce.images.items())
    assert ce.caption.value == f"<code>z = (+0.00, +{ce.z2.max:.2f})</code>"
    with pytest.raises(ValueError, match="at least one decoder"):
        AW.compare_explorer({})


def test_compare_in_each_model_s_own_standard_units(ae):
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(1000, 2, generator=g) * torch.tensor([6.0, 7.0]) + torch.tensor([-1.0, 6.0])
    gen = models.Autoencoder().eval().decoder  # stands in for a GAN: no codes, z = u
    ce = AW.compare_explorer({"AE": ae.decoder, "GAN": gen}, codes={"AE": codes}, planes=True)
    ce.set_z((1.0, -0.5))
    m, s = codes.mean(0), codes.std(0)
    want = (m + s * torch.tensor(ce.z)).tolist()
    assert ce.z_of("AE") == pytest.approx(want) and ce.z_of("GAN") == pytest.approx(ce.z)
    assert np.array_equal(pixels(ce.images["AE"].value)[::6, ::6],
                          as_uint8(AW.decode_one(ae.decoder, want)))  # fmt: skip
    assert np.array_equal(pixels(ce.images["GAN"].value)[::6, ::6],
                          as_uint8(AW.decode_one(gen, ce.z)))  # fmt: skip
    assert ce.z1.description == "u₁" and "standard units of each model's own codes" in ce.help.value
    assert set(ce.planes) == {"AE", "GAN"} and len(ce.markers) == 2
    left = ce.markers["GAN"].layout.left
    ce.set_z((0.0, 0.0))
    assert ce.markers["GAN"].layout.left != left and ce.markers["GAN"].layout.left == "50.000%"
    with pytest.raises(ValueError, match="no decoder of that name"):
        AW.compare_explorer({"AE": ae.decoder}, codes={"VAE": codes})


def test_interpolation_ends_match_the_codes_of_the_two_images(ae):
    x_a, x_b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    ie = AW.interpolation_explorer(ae, x_a, x_b)
    ie.t.value = 0.0
    with torch.no_grad():
        expected = ae.decoder(ae.encoder(x_a.unsqueeze(0)))[0, 0].numpy()
    np.testing.assert_array_equal(pixels(ie.latent_view.value)[::6, ::6], as_uint8(expected))


def test_interpolation_player_compares_models_between_images_of_two_classes(ae):
    torch.manual_seed(1)
    vae = models.VarAutoencoder().eval()
    x = torch.rand(40, 1, 28, 28)
    labels = torch.arange(40) % 4
    p = AW.interpolation_player({"AE": ae, "VAE": vae}, x, labels, list("abcd"), pair=("b", "d"))
    assert (p.i_a, p.i_b) == (1, 3), "the first test image of each class"
    p.play.value = 0
    assert p.t.value == 0.0
    with torch.no_grad():
        ends = {"AE": ae.decoder(ae.encoder(x[1:2]))[0, 0].numpy(),
                "VAE": vae.decoder(vae.encoder(x[1:2])[0])[0, 0].numpy()}  # fmt: skip
    for n, want in ends.items():
        np.testing.assert_array_equal(pixels(p.views[n].value)[::6, ::6], as_uint8(want))
    np.testing.assert_array_equal(pixels(p.blend.value)[::6, ::6], as_uint8(x[1, 0].numpy()))
    p.t.value = 1.0
    assert p.play.value == p.frames, "the play button follows the slider"
    p.another.click()
    assert (p.i_a, p.i_b) == (5, 7), "the next image of each class"
    p.class_a.value = "c"
    assert (p.i_a, p.i_b) == (2, 3)
    assert set(p.strips) == {"AE", "VAE", "pixel blend"}
    assert pixels(p.strips["AE"].value).shape == (56, 2 * (9 * 28 + 8 * 2))
    with pytest.raises(ValueError, match="not one of"):
        AW.interpolation_player({"AE": ae}, x, labels, list("abcd"), pair=("b", "z"))


def test_every_explorer_shows_a_still_picture_where_widgets_cannot(ae, monkeypatch):
    ex = AW.latent_explorer(ae.decoder, torch.randn(300, 2), torch.arange(300) % 3, list("abc"))
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    still = Image.open(io.BytesIO(bundle["image/png"]))
    assert still.height == ex.scatter.height and still.width > ex.scatter.width
    monkeypatch.setenv("VOILA_KERNEL_ID", "some-kernel")
    assert "image/png" not in ex._repr_mimebundle_(), "a Voila page uses the committed one"


def test_output_to_terminal_takes_prints_warnings_and_log_records(capsys):
    log = logging.getLogger("test-widgets")  # outside "aelib", whose own handler adds a line
    handler = logging.StreamHandler(sys.stderr)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    terminal = io.StringIO()
    try:
        with AW.output_to_terminal(terminal):
            print("a print")
            log.info("a log record")
            print("to stderr", file=sys.stderr)
        assert handler.stream is sys.stderr, "the handler is restored"
    finally:
        log.removeHandler(handler)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert terminal.getvalue().splitlines() == ["a print", "a log record", "to stderr"]


def test_a_log_handler_made_inside_the_block_does_not_keep_the_terminal():
    log = logging.getLogger("aelib.test-widgets-late")
    terminal = io.StringIO()
    with AW.output_to_terminal(terminal):
        handler = logging.StreamHandler()  # made while sys.stderr is the terminal
        log.addHandler(handler)
    try:
        assert handler.stream is sys.stderr
    finally:
        log.removeHandler(handler)


def test_latent_explorer_rejects_other_latent_sizes():
    with pytest.raises(ValueError, match="2-D latent space"):
        AW.latent_explorer(models.Autoencoder(latent_dims=3).decoder)


def test_small_sliders():
    li = AW.live_images(lambda level: {"x": np.full((28, 28), level)}, level=(0.0, 1.0, 0.1, 0.2))
    li.controls["level"].value = 0.9
    assert pixels(li.images["x"].value).mean() == pytest.approx(0.9 * 255, abs=1)

    def draw(fig, mu):
        fig.add_subplot().axvline(mu)

    lf = AW.live_figure(draw, mu=(-1.0, 1.0, 0.5, 0.0))
    first = lf.view.value
    lf.controls["mu"].value = 1.0
    assert lf.view.value != first
    with pytest.raises(TypeError, match="Slider 'bad'"):
        AW.live_images(lambda bad: {}, bad=3)
