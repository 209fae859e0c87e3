"""The diagrams in image/: regenerated from aelib.figures, they match the committed files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib
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
