"""aelib.plots.plot_image_rows: one labelled row per tensor, images drawn unchanged."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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
