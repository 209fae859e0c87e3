"""aelib.plots.plot_image_rows: one labelled row per tensor, images drawn unchanged."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from aelib.plots import plot_image_rows


def test_rows_labels_and_pixels():
    x = torch.rand(12, 1, 28, 28)
    flat = torch.rand(12, 784)  # (B, 784) rows are accepted too
    fig = plot_image_rows({"input x": x, "k = 2": flat, "k = 10": x.flip(0)}, n=5)
    axes = np.array(fig.axes).reshape(3, 5)
    assert [a.get_ylabel() for a in axes[:, 0]] == ["input x", "k = 2", "k = 10"]
    np.testing.assert_allclose(axes[0, 3].images[0].get_array(), x[3, 0].numpy())
    np.testing.assert_allclose(axes[1, 4].images[0].get_array(), flat[4].reshape(28, 28))
    np.testing.assert_allclose(axes[2, 0].images[0].get_array(), x[11, 0].numpy())
    plt.close(fig)


def test_n_is_capped_by_the_shortest_row():
    fig = plot_image_rows({"a": torch.rand(3, 1, 28, 28), "b": torch.rand(8, 1, 28, 28)}, n=10)
    assert len(fig.axes) == 2 * 3
    plt.close(fig)


def test_row_titles_sit_left_of_their_rows_and_are_not_repeated():
    x = torch.rand(10, 1, 28, 28)
    fig = plot_image_rows({"input x": x, "y = h(g(x))": x.flip(0)}, n=10)
    axes = np.array(fig.axes).reshape(2, 10)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for r in range(2):
        label = axes[r, 0].yaxis.label
        assert label.get_rotation() == 0 and label.get_fontsize() >= 9  # horizontal, readable
        box = label.get_window_extent(renderer)
        assert box.x1 <= axes[r, 0].get_window_extent(renderer).x0  # left of the first image
        assert box.x0 >= 0  # not cut off by the figure's edge
        ax_box = axes[r, 0].get_window_extent(renderer)
        assert ax_box.y0 <= (box.y0 + box.y1) / 2 <= ax_box.y1  # level with its row
    assert all(not a.get_ylabel() for a in axes[:, 1:].flat)  # one title per row, not per image
    assert all(not a.get_title() for a in axes.flat)  # no titles under or over every image
    plt.close(fig)


def test_column_titles_and_a_figure_title():
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    x = torch.rand(5, 1, 28, 28)
    fig = plot_image_rows({"input x": x, "output": x}, col_titles=names, title="two rows")
    axes = np.array(fig.axes).reshape(2, 5)
    assert [a.get_title() for a in axes[0]] == names
    assert all(not a.get_title() for a in axes[1])
    assert all(a.title.get_fontsize() >= 9 for a in axes[0])
    assert "two rows" in [t.get_text() for t in fig.texts]  # the suptitle
    plt.close(fig)
    fig = plot_image_rows({"a": x}, n=3, col_titles=names)  # longer than n: cut to n
    assert [a.get_title() for a in fig.axes] == names[:3]
    plt.close(fig)
    with pytest.raises(ValueError, match="one title per column"):
        plot_image_rows({"a": x}, col_titles=names[:2])
