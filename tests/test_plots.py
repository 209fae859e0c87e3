"""aelib.plots: the figure defaults of CONTRIBUTING.md, each asserted on a drawn figure.

The class palette is checked with colour science written out here (sRGB -> CIELAB,
CIEDE2000, the dichromacy simulation of Machado, Oliveira & Fernandes 2009), tested against
published reference values, not against the code under test.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.text import Text

from aelib import plots as P

NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
DPI = 80  # aelib.setup's notebook dpi
TAB10 = [to_hex(c) for c in plt.get_cmap("tab10").colors]  # matplotlib's default cycle


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---- colour science, independent of aelib ---------------------------------------------------
# Machado et al. 2009, Table 1, severity 1.0; applied to linear RGB.
MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])  # fmt: skip
D65 = np.array([0.95047, 1.0, 1.08883])


def to_linear(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, float)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_lab(lin: np.ndarray) -> np.ndarray:
    t = lin @ SRGB_TO_XYZ.T / D65
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)  # fmt: skip


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005, equations 1-16)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, float), -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1 = np.degrees(np.arctan2(b1, a1p)) % 360
    h2 = np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2 - h1
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1 * c2 == 0, 0.0, dh)
    d_l, d_c = L2 - L1, c2 - c1
    d_h = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_bar, cp_bar, h_sum = (L1 + L2) / 2, (c1 + c2) / 2, h1 + h2
    h_bar = np.where(c1 * c2 == 0, h_sum, np.where(np.abs(h1 - h2) <= 180, h_sum / 2,
                     np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))  # fmt: skip
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = (-2 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7))
           * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2)))))  # fmt: skip
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
                   + r_t * (d_c / s_c) * (d_h / s_h))  # fmt: skip


def seen_as(colors, vision: str | None) -> np.ndarray:
    """CIELAB of ``colors`` as seen with normal vision (None) or a simulated dichromacy."""
    lin = to_linear([to_rgb(c) for c in colors])
    if vision is not None:
        lin = np.clip(lin @ np.array(MACHADO[vision]).T, 0.0, 1.0)
    return linear_to_lab(lin)


def min_difference(colors, vision: str | None) -> float:
    lab = seen_as(colors, vision)
    d = ciede2000(lab[:, None], lab[None, :])
    return float(d[np.triu_indices(len(colors), 1)].min())


def test_colour_science_matches_published_values():
    # Sharma, Wu & Dalal (2005), Table 1: pairs 1, 2, 3, 7, 17, 18, 19, 20, 25, 26, 33
    pairs = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
             ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
             ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
             ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
             ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
             ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
             ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
             ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
             ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
             ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082)]  # fmt: skip
    for a, b, expected in pairs:
        assert ciede2000(np.array(a), np.array(b)) == pytest.approx(expected, abs=1e-4)
        assert ciede2000(np.array(b), np.array(a)) == pytest.approx(expected, abs=1e-4)
    np.testing.assert_allclose(seen_as(["#ffffff"], None)[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(seen_as(["#ff0000"], None)[0], [53.24, 80.09, 67.20], atol=0.05)
    for m in MACHADO.values():  # a dichromat sees white as white and grey as grey
        np.testing.assert_allclose(np.array(m).sum(axis=1), 1.0, atol=1e-3)


def test_palette_has_ten_distinct_colours_and_is_petroffs():
    assert len(P.CLASS_PALETTE) == 10
    assert len({to_hex(c) for c in P.CLASS_PALETTE}) == 10
    assert [P.class_color(k) for k in range(10)] == list(P.CLASS_PALETTE)
    assert P.class_color(12) == P.CLASS_PALETTE[2]  # more classes than colours: cycle
    if "petroff10" in mpl.style.library:  # matplotlib >= 3.10 ships the same sequence
        cycle = mpl.style.library["petroff10"]["axes.prop_cycle"].by_key()["color"]
        assert [to_hex(c) for c in cycle] == [to_hex(c) for c in P.CLASS_PALETTE]


MIN_DELTA_E = 10.0


@pytest.mark.parametrize("vision", [None, "protanopia", "deuteranopia", "tritanopia"])
def test_palette_stays_distinguishable_with_colour_blindness(vision):
    """Every pair of class colours differs by at least 10 CIEDE2000 units, with normal vision
    and under each simulated dichromacy (the severest form of each colour blindness).

    CIEDE2000 is scaled so that about 1 unit is just noticeable between two large uniform
    patches side by side; a scatter point or a legend marker is tiny and read against a
    legend some distance away, so we ask for ten times that. Measured: Petroff's palette
    keeps 11.9 (protanopia) to 17.3 (normal); matplotlib's default tab10 falls to 1.3 under
    protanopia and 3.3 under deuteranopia (see the next test).
    """
    assert min_difference(P.CLASS_PALETTE, vision) >= MIN_DELTA_E


def test_the_colour_blindness_check_fails_for_tab10():
    """Negative control: tab10's orange and green are nearly one colour to a protanope."""
    assert min_difference(TAB10, None) >= MIN_DELTA_E  # fine with normal vision ...
    assert min_difference(TAB10, "protanopia") < 2.0  # ... not without red cones
    assert min_difference(TAB10, "deuteranopia") < MIN_DELTA_E


# ---- helpers for the figure tests -------------------------------------------------------------
def texts_of(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def assert_readable(fig, min_pt: float = 9.0) -> None:
    """Every piece of text in the figure is at least ``min_pt`` points."""
    small = [(t.get_text(), t.get_fontsize()) for t in texts_of(fig) if t.get_fontsize() < min_pt]
    assert not small, f"text below {min_pt} pt: {small}"


def codes_and_labels(n: int = 600, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    centres = torch.stack([torch.cos(labels * 0.63), torch.sin(labels * 0.63)], dim=1) * 3
    return centres + 0.4 * torch.randn(n, 2, generator=gen), labels


def code_image_decoder(lo: float = -3.0, hi: float = 3.0):
    """A 'decoder' whose image shows its code: left half z1, right half z2, scaled to [0, 1]."""
    def decoder(z: torch.Tensor) -> torch.Tensor:
        u = ((z - lo) / (hi - lo)).clamp(0, 1)  # (B, 2)
        img = torch.empty(len(z), 1, 28, 28)
        img[..., :14] = u[:, 0, None, None, None]
        img[..., 14:] = u[:, 1, None, None, None]
        return img
    return decoder


# ---- plot_latent ------------------------------------------------------------------------------
def test_plot_latent_defaults():
    z, y = codes_and_labels()
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=DPI, layout="constrained")
    P.plot_latent(z, y, NAMES, ax=ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$z_1$", "$z_2$")
    for coll, k in zip(ax.collections, range(10)):  # class k drawn in palette colour k
        assert to_hex(coll.get_facecolor()[0], keep_alpha=False) == P.CLASS_PALETTE[k]
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == NAMES
    assert min(t.get_fontsize() for t in leg.get_texts()) >= 9
    for handle in leg.legend_handles:  # markers large and opaque, whatever the scatter's s
        assert handle.get_markersize() >= 6 and handle.get_alpha() in (None, 1.0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not leg.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert leg.get_window_extent(renderer).x1 <= fig.bbox.x1  # inside the figure
    assert_readable(fig)


def test_plot_latent_options_and_errors():
    z, y = codes_and_labels()
    ax = P.plot_latent(z, y, NAMES, axis_labels=(r"$\mu_1$", r"$\mu_2$"), legend=False)
    assert (ax.get_xlabel(), ax.get_ylabel()) == (r"$\mu_1$", r"$\mu_2$")
    assert ax.get_legend() is None
    ax = P.plot_latent(z)  # no labels: one grey cloud, still labelled axes
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is None
    with pytest.raises(ValueError, match="one label per (code|point)"):
        P.plot_latent(z, y[:10], NAMES)
    with pytest.raises(ValueError, match="no name"):
        P.plot_latent(z, y, NAMES[:5])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        P.plot_latent(torch.zeros(5, 3))


# ---- plot_history -----------------------------------------------------------------------------
def history(loss, **terms):
    return SimpleNamespace(loss=list(loss), terms={k: list(v) for k, v in terms.items()})


def test_plot_history_starts_at_zero_and_labels_its_axes():
    h = history([0.05, 0.031, 0.029, 0.028], recon=[300.0, 270, 265, 262], kl=[6.3, 5.9, 6.0, 6.2])
    fig, ax = plt.subplots(dpi=DPI)
    P.plot_history(h, ax=ax)
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] >= 0.05
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert all(float(t).is_integer() for t in ticks)  # whole epochs only
    ax.axhline(0.08, ls="--")  # a reference level drawn later still fits, from 0
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] >= 0.08
    ax = P.plot_history(h, keys=["kl"], ylabel="KL per image (nats)")
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylabel() == "KL per image (nats)"
    assert P.plot_history(h, keys=["kl"]).get_ylabel() == "kl"  # the term's name by default
    ax = P.plot_history(h, keys=["recon", "kl"])
    assert ax.get_ylim()[0] == 0.0
    assert min(t.get_fontsize() for t in ax.get_legend().get_texts()) >= 9
    assert P.plot_history(history([-2.0, -3.0])).get_ylim()[0] <= -3.0  # negative: all shown
    assert_readable(fig)


def test_plot_history_says_why_it_does_not_start_at_zero():
    h = history([6.3, 5.9, 6.0, 6.2])
    with pytest.raises(ValueError, match="why_not_zero"):
        P.plot_history(h, from_zero=False)
    ax = P.plot_history(h, from_zero=False, why_not_zero="the KL changes by 5 %")
    assert ax.get_ylim()[0] > 0
    assert "the KL changes by 5 %" in ax.get_xlabel() and "not from 0" in ax.get_xlabel()
    with pytest.raises(KeyError, match="no term 'recon'"):
        P.plot_history(h, keys=["recon"])


# ---- plot_manifold ----------------------------------------------------------------------------
def tile_at(ax, z1: float, z2: float) -> np.ndarray:
    """The image pixels drawn at the data point (z1, z2): the 28x28 tile that contains it."""
    im = ax.images[0]
    arr = im.get_array()
    left, right, bottom, top = im.get_extent()
    col = int((z1 - left) / (right - left) * arr.shape[1])
    row = int((top - z2) / (top - bottom) * arr.shape[0])
    r0, c0 = row // 28 * 28, col // 28 * 28
    return arr[r0 : r0 + 28, c0 : c0 + 28]


def test_plot_manifold_axes_are_in_code_units_with_tiles_centred_on_their_codes():
    n, decoder = 5, code_image_decoder()
    fig, ax = plt.subplots(dpi=DPI)
    P.plot_manifold(decoder, z1_range=(-2.0, 2.0), z2_range=(-1.0, 3.0), n=n, ax=ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$z_1$", "$z_2$")
    # five tiles of 0.8 cover each range; the codes are the tiles' centres
    grid = P.latent_grid((-1.6, 1.6), (-0.6, 2.6), n)
    torch.testing.assert_close(P.manifold_grid((-2.0, 2.0), (-1.0, 3.0), n), grid)
    for z1, z2 in grid.tolist():  # the tile drawn at a code is the decoding of that code
        expected = decoder(torch.tensor([[z1, z2]]))[0, 0].numpy()
        np.testing.assert_allclose(tile_at(ax, z1, z2), expected, atol=1e-6)
    assert ax.images[0].get_extent() == pytest.approx((-2.0, 2.0, -1.0, 3.0))  # = the ranges
    assert_readable(fig)
    # codes given on a regular grid: half a tile beyond the outermost codes (step 1.0)
    ax = P.plot_manifold(decoder, z=P.latent_grid((-2.0, 2.0), (-1.0, 3.0), n), n=n)
    assert ax.images[0].get_extent() == pytest.approx((-2.5, 2.5, -1.5, 3.5))
    for z1, z2 in P.latent_grid((-2.0, 2.0), (-1.0, 3.0), n).tolist():
        expected = decoder(torch.tensor([[z1, z2]]))[0, 0].numpy()
        np.testing.assert_allclose(tile_at(ax, z1, z2), expected, atol=1e-6)


def test_plot_manifold_labels_a_quantile_grid_by_its_codes():
    n = 7
    grid = P.normal_quantile_grid(n)
    ax = P.plot_manifold(code_image_decoder(), z=grid, n=n)
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    shown = [float(t.get_text().replace("\u2212", "-")) for t in ax.get_xticklabels()]
    z1 = grid[:n, 0].numpy()
    centres = ax.get_xticks()
    for value, centre in zip(shown, centres):
        c = int(round((centre - 13.5) / 28))  # tile index under the tick
        assert value == pytest.approx(z1[c], abs=0.05)
    assert shown[0] < 0 < shown[-1] and len(shown) >= 3
    ys = [float(t.get_text().replace("\u2212", "-")) for t in ax.get_yticklabels()]
    assert ys[0] > 0 > ys[-1]  # top row = largest z2, as on a scatter's y axis
    scattered = P.plot_manifold(code_image_decoder(), z=torch.randn(9, 2), n=3)
    assert not scattered.get_xlabel() and not scattered.get_xticks().size  # no axis to claim


def test_plot_manifold_frames_tiles_in_their_class_colours_with_a_legend():
    z, y = codes_and_labels()
    n = 6
    grid = P.manifold_grid((-3.0, 3.0), (-3.0, 3.0), n)  # the codes plot_manifold decodes
    tiles = P.nearest_code_labels(grid, z, y, max_distance=1.0)
    fig, ax = plt.subplots(dpi=DPI, layout="constrained")
    P.plot_manifold(code_image_decoder(), z1_range=(-3.0, 3.0), z2_range=(-3.0, 3.0), n=n,
                    ax=ax, tile_labels=tiles, class_names=NAMES)  # fmt: skip
    frames = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert len(frames) == 1
    kept = tiles[tiles >= 0]
    assert 0 < len(kept) < n * n  # some tiles have no code within 1.0: unframed
    assert [to_hex(c, keep_alpha=False) for c in frames[0].get_edgecolor()] == \
        [P.class_color(k) for k in kept.tolist()]  # fmt: skip
    leg = ax.get_legend()
    assert [t.get_text() for t in leg.get_texts()] == [NAMES[k] for k in sorted(set(kept.tolist()))]
    assert min(t.get_fontsize() for t in leg.get_texts()) >= 9
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    assert not leg.get_window_extent(r).overlaps(ax.get_window_extent(r))
    with pytest.raises(ValueError, match="one class per decoded code"):
        P.plot_manifold(code_image_decoder(), n=n, tile_labels=tiles[:3])


def test_nearest_code_labels_matches_brute_force():
    z, y = codes_and_labels(300, seed=1)
    queries = torch.randn(700, 2, generator=torch.Generator().manual_seed(2)) * 3
    d = np.linalg.norm(queries.numpy()[:, None] - z.numpy()[None], axis=-1)
    expected = y.numpy()[d.argmin(axis=1)]
    np.testing.assert_array_equal(P.nearest_code_labels(queries, z, y).numpy(), expected)
    far = P.nearest_code_labels(queries, z, y, max_distance=0.5).numpy()
    np.testing.assert_array_equal(far, np.where(d.min(axis=1) > 0.5, -1, expected))
    with pytest.raises(ValueError, match="labels"):
        P.nearest_code_labels(queries, z, y[:5])


# ---- image grids and colour bars --------------------------------------------------------------
def test_show_images_row_and_column_titles():
    x = torch.rand(8, 1, 28, 28)
    fig = P.show_images(x, nrow=4, row_titles=["AE", "VAE"], col_titles=["-1", "0", "1", "2"])
    axes = np.array(fig.axes).reshape(2, 4)
    assert [a.get_ylabel() for a in axes[:, 0]] == ["AE", "VAE"]
    assert [a.get_title() for a in axes[0]] == ["-1", "0", "1", "2"]
    assert all(not a.get_title() for a in axes[1])  # not repeated under every image
    np.testing.assert_allclose(axes[1, 2].images[0].get_array(), x[6, 0].numpy())
    assert_readable(fig)
    with pytest.raises(ValueError, match="one title per row"):
        P.show_images(x, nrow=4, row_titles=["only one"])
    fig = P.show_images(x, nrow=4, titles=[str(i) for i in range(8)])  # still supported
    assert [a.get_title() for a in fig.axes] == [str(i) for i in range(8)]


def test_add_colorbar_needs_and_shows_a_label():
    fig, ax = plt.subplots(dpi=DPI)
    im = ax.imshow(np.random.default_rng(0).random((4, 4)))
    cbar = P.add_colorbar(im, ax, "distance to the nearest training image (pixels, L2)")
    assert cbar.ax.get_ylabel() == "distance to the nearest training image (pixels, L2)"
    assert cbar.ax.yaxis.label.get_fontsize() >= 9
    with pytest.raises(ValueError, match="needs a label"):
        P.add_colorbar(im, ax, " ")
