"""aelib.widgets: a slider move changes what is shown, and only through the decoder."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from aelib import models
from aelib import widgets as AW


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


class ConstantDecoder(torch.nn.Module):
    """A decoder that ignores z: the negative control."""

    latent_dims = 2

    def forward(self, z):
        return torch.full((len(z), 1, 28, 28), 0.5)


@pytest.fixture
def ae():
    torch.manual_seed(0)
    return models.Autoencoder().eval()


def test_latent_explorer_redraws_image_and_moves_marker(ae):
    codes = torch.randn(500, 2)
    ex = AW.latent_explorer(ae.decoder, codes, torch.randint(0, 10, (500,)), list("abcdefghij"))
    image0, scatter0 = pixels(ex.image.value), ex.scatter_view.value
    margin0 = ex.marker.layout.margin
    ex.z1.value = ex.z1.max
    assert np.abs(pixels(ex.image.value) - image0).sum() > 0
    assert ex.marker.layout.margin != margin0, "the marker moves"
    assert ex.scatter_view.value == scatter0, "the scatter itself is sent once, never again"
    assert "z = (+" in ex.caption.value
    ex.z1.value = ex.z1.min
    assert len(ex.timer.times_ms) == 2 and ex.timer.median_ms > 0


def test_marker_sits_on_the_code(ae):
    ex = AW.latent_explorer(ae.decoder, torch.randn(500, 2))
    ex.z1.value, ex.z2.value = 0.0, 0.0
    r, c = ex.scatter.pixel((0.0, 0.0))
    top, _, _, left = (int(v.removesuffix("px")) for v in ex.marker.layout.margin.split())
    assert (top + 12, left + 12) == (r, c), "the marker's centre is the code's pixel"
    snap = ex.snapshot()
    assert tuple(snap[r, c]) == (255, 215, 0), "the static snapshot has the gold dot there"


def test_slider_steps_are_round_numbers():
    s = AW._slider("z1", -3.4137, 2.8712)
    assert s.step == 0.02 and s.min == -3.42 and s.max == 2.88
    assert AW._nice_step(6.0) == 0.02 and AW._nice_step(1.0) == 0.005
    assert AW._slider("z", 1.0, 1.0).max > AW._slider("z", 1.0, 1.0).min


def test_decode_runs_on_one_thread_and_restores_the_pool(ae):
    n = torch.get_num_threads()
    seen = []

    def decoder(z):
        seen.append(torch.get_num_threads())
        return ae.decoder(z)

    AW.decode_one(decoder, (0.0, 0.0))
    assert seen == [1] and torch.get_num_threads() == n


def test_negative_control_decoder_never_changes_the_image():
    ex = AW.latent_explorer(ConstantDecoder())
    before = pixels(ex.image.value)
    ex.z1.value = ex.z1.max
    assert np.array_equal(pixels(ex.image.value), before)


def test_prior_ranges_without_codes(ae):
    ex = AW.latent_explorer(ae.decoder)
    assert (ex.z1.min, ex.z1.max) == (-3.0, 3.0)


def test_compare_explorer_updates_every_panel(ae):
    torch.manual_seed(1)
    other = models.Autoencoder().eval()
    ce = AW.compare_explorer({"A": ae.decoder, "B": other.decoder})
    before = {n: pixels(w.value) for n, w in ce.images.items()}
    ce.z2.value = 2.5
    assert all(np.abs(pixels(w.value) - before[n]).sum() > 0 for n, w in ce.images.items())
    assert ce.caption.value == "<code>z = (+0.00, +2.50)</code>"
    with pytest.raises(ValueError, match="at least one decoder"):
        AW.compare_explorer({})


def test_interpolation_ends_match_the_codes_of_the_two_images(ae):
    x_a, x_b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    ie = AW.interpolation_explorer(ae, x_a, x_b)
    ie.t.value = 0.0
    with torch.no_grad():
        expected = ae.decoder(ae.encoder(x_a.unsqueeze(0)))[0, 0].numpy()
    np.testing.assert_array_equal(pixels(ie.latent_view.value)[::6, ::6],
                                  (np.clip(expected, 0, 1) * 255).astype(np.uint8))  # fmt: skip


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
