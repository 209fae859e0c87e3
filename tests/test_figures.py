"""The diagrams in image/: regenerated from aelib.figures, they match the committed files."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import matplotlib.colors
import matplotlib.text
import numpy as np
import pytest
import torch
from PIL import Image
from torchinfo import summary

from aelib import figures as F
from aelib import models as M
from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[1]
DIAGRAMS = [name for name in F.NAMES if name != "dimension_reduction.png"]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def assert_same_pixels(new: Path, committed: Path) -> None:
    assert committed.exists(), f"{committed.name} is missing: run `make figures`"
    a, b = pixels(new), pixels(committed)
    fix = (f"run `make figures` and commit image/{committed.name} "
           f"(this is matplotlib {matplotlib.__version__})")  # fmt: skip
    assert a.shape == b.shape, f"{committed.name}: size {b.shape} != regenerated {a.shape}; {fix}"
    differ = int(np.any(a != b, axis=-1).sum())
    assert differ == 0, f"{committed.name}: {differ} pixels differ from the code's drawing; {fix}"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The five data-free diagrams, drawn once into a temporary folder."""
    folder = tmp_path_factory.mktemp("figures")
    F.draw_all(folder, DIAGRAMS)
    return folder


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagram_matches_the_committed_file(regenerated, name):
    assert_same_pixels(regenerated / name, ROOT / "image" / name)


def test_dimension_reduction_matches_the_committed_file(tmp_path):
    ds = F.load_fashion_mnist()
    if ds.name != "fashion-mnist":
        if in_ci():
            pytest.fail(".ci/run should have installed dataset-fashion-mnist")
        pytest.skip("needs Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    F.draw_all(tmp_path, ["dimension_reduction.png"], ds=ds)
    name = "dimension_reduction.png"
    assert_same_pixels(tmp_path / name, ROOT / "image" / name)


def test_dimension_reduction_draws_from_any_small_dataset(tmp_path):
    """Like the digits fallback: fewer images than PCA's default sample, other pictures."""
    gen = torch.Generator().manual_seed(0)
    small = SimpleNamespace(name="digits", x_train=torch.rand(300, 1, 28, 28, generator=gen),
                            x_test=torch.rand(30, 1, 28, 28, generator=gen),
                            y_test=torch.arange(30) % 10)  # fmt: skip
    F.draw_all(tmp_path, ["dimension_reduction.png"], ds=small)
    assert pixels(tmp_path / "dimension_reduction.png").shape[:2] == (600, 1462)


def test_the_comparison_notices_a_changed_drawing(tmp_path, monkeypatch):
    """Negative control: one colour changed in the code makes the committed file stale."""
    monkeypatch.setitem(F.PALETTE, "loss", "#000000")
    F.draw_all(tmp_path, ["auto-encoder.png"])
    with pytest.raises(AssertionError, match="pixels differ"):
        assert_same_pixels(tmp_path / "auto-encoder.png", ROOT / "image" / "auto-encoder.png")


def test_drawing_twice_gives_the_same_bytes(regenerated, tmp_path):
    """No timestamps, versions or randomness in the files: byte-identical on one machine."""
    F.draw_all(tmp_path, DIAGRAMS)
    for name in DIAGRAMS:
        assert (tmp_path / name).read_bytes() == (regenerated / name).read_bytes(), name


def test_pngs_have_a_white_background_and_fit_a_300px_embed():
    for name in F.NAMES:
        img = pixels(ROOT / "image" / name)
        h, w, _ = img.shape
        assert (img[..., 3] == 255).all(), f"{name} has transparent pixels (dark themes)"
        assert (img[0, 0] == 255).all() and (img[-1, -1] == 255).all(), name  # white corners
        assert 1.5 <= w / h <= 2.8, f"{name} is {w}x{h}: too wide or tall for a 300-px embed"


def test_parameter_counts_in_the_architecture_diagram_match_torchinfo():
    stats = summary(M.Autoencoder(), (3, 1, 28, 28), verbose=0, col_names=["num_params"])
    torchinfo_counts = [layer.num_params for layer in stats.summary_list
                        if layer.class_name == "Linear"]  # fmt: skip
    table = F.layer_table()
    assert [row[2] for row in table] == torchinfo_counts == list(F.LECTURE_PARAMS)
    assert sum(torchinfo_counts) == stats.total_params == F.LECTURE_TOTAL
    assert [table[0][0]] + [row[1] for row in table] == [784, 100, 50, 2, 50, 100, 784]


def test_layout_check_catches_clipped_and_overlapping_labels():
    with F.style():
        fig, ax = F.canvas(3.0, 2.0)
        F.text(ax, 1.5, 1.0, "fits")
        F.check_layout(fig)  # no complaint
        F.text(ax, 2.9, 1.0, "clipped label")
        with pytest.raises(ValueError, match="clipped"):
            F.check_layout(fig)
        fig, ax = F.canvas(3.0, 2.0)
        F.text(ax, 1.5, 1.0, "one label")
        F.text(ax, 1.6, 1.05, "another")
        with pytest.raises(ValueError, match="overlap"):
            F.check_layout(fig)


def test_command_line_usage(capsys):
    assert F.main([]) == 2
    assert "usage: python -m aelib.figures OUTPUT_FOLDER" in capsys.readouterr().err


def test_layout_check_wants_a_gap_between_labels():
    """Labels that touch (the old over/undercomplete titles did) read as one label."""
    with F.style():
        fig, ax = F.canvas(4.0, 1.0)
        F.text(ax, 1.0, 0.5, "left", ha="right")
        F.text(ax, 1.0 + 2 / F.DPI, 0.5, "right", ha="left")  # 2 px apart
        with pytest.raises(ValueError, match="closer than"):
            F.check_layout(fig)
        fig, ax = F.canvas(4.0, 1.0)
        F.text(ax, 1.0, 0.5, "left", ha="right")
        F.text(ax, 1.0 + 10 / F.DPI, 0.5, "right", ha="left")  # 10 px apart
        F.check_layout(fig)


def labels(fig) -> list[tuple[str, float, float, str]]:
    """(text, x, y, colour) of every label, in the canvas' inches."""
    out = []
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_visible() and t.get_text():
            x, y = t.get_position()
            out.append((t.get_text(), x, y, matplotlib.colors.to_hex(t.get_color())))
    return out


def test_over_and_undercomplete_names_the_code_z_and_the_maps_g_and_h():
    """Notation (CONTRIBUTING.md): h is the decoder, so the middle layer is the code z."""
    with F.style():
        fig = F.draw_over_and_undercomplete()
    found = labels(fig)
    bottom = sorted((x, s) for s, x, y, _ in found if y < 0.6)  # the row under the networks
    assert [s for _, s in bottom] == ["$x$", "$g$", "$z$", "$h$", r"$\hat{x}$"] * 2
    colours = {s: c for s, _, y, c in found if y < 0.6}
    assert colours["$g$"] == F.PALETTE["encoder"].lower()
    assert colours["$h$"] == F.PALETTE["decoder"].lower()
    texts = [s for s, *_ in found]
    assert r"$\dim z < \dim x$" in texts and r"$\dim z > \dim x$" in texts
    assert not any(re.search(r"\bh\s*[<>]", s) for s in texts)


@pytest.mark.parametrize("name", DIAGRAMS)
def test_diagrams_use_the_course_notation(name):
    """N(., .) is written \\mathcal{N}; the VAE's sigma is exp(g_2); no code called h."""
    with F.style():
        fig = F.DRAW[name]()
    texts = [s for s, *_ in labels(fig)]
    for s in texts:
        assert not re.search(r"(?<!mathcal\{)\bN\(", s), f"{name}: {s!r} should use \\mathcal{{N}}"
        assert "h <" not in s and "h >" not in s, f"{name}: {s!r} calls the code h"
    if name == "var_encoder.png":
        assert r"$\sigma = \exp(g_2)$" in texts and "$g_1$" in texts and r"$\mu$" in texts
        assert any(r"\zeta \sim \mathcal{N}(0, I)" in s for s in texts)
    if name == "Encoders.png":
        assert "noise $z$" in texts  # G's input, as in the notation table
