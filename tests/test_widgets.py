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


def test_latent_explorer_redraws_image_and_marker(ae):
    codes = torch.randn(500, 2)
    ex = AW.latent_explorer(ae.decoder, codes, torch.randint(0, 10, (500,)), list("abcdefghij"))
    image0, scatter0 = pixels(ex.image.value), pixels(ex.scatter_view.value)
    ex.z1.value = ex.z1.max
    assert np.abs(pixels(ex.image.value) - image0).sum() > 0
    assert np.abs(pixels(ex.scatter_view.value) - scatter0).sum() > 0
    ex.z1.value = ex.z1.min
    assert len(ex.timer.times_ms) == 2


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
