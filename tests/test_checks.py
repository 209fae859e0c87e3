"""aelib.checks: the shared validators say what was wrong, what was expected, and the fix."""

from __future__ import annotations

import pytest
import torch

import aelib
from aelib import checks


def test_the_issue_example_reads_as_promised():
    with pytest.raises(ValueError) as err:
        checks.image_batch(torch.rand(256, 28, 28))
    assert str(err.value) == ("aelib: x has shape (256, 28, 28); aelib expects images as "
                              "(N, 1, 28, 28): use x.unsqueeze(1).")  # fmt: skip


@pytest.mark.parametrize("x, error, match", [
    (torch.rand(4, 1, 28, 28) * 255, ValueError, r"values in \[.*\]; .*\[0, 1\]: use x / 255"),
    (torch.rand(4, 1, 28, 28) - 0.5, ValueError, r"values in \[-0.*rescale it"),
    (torch.full((4, 1, 28, 28), float("nan")), ValueError, "contains NaN values"),
    (torch.full((4, 1, 28, 28), float("inf")), ValueError, r"values in \[inf, inf\]"),
    (torch.zeros(4, 3, 28, 28), ValueError, "grayscale images shaped"),
    (torch.zeros(0, 1, 28, 28), ValueError, "non-empty batch"),
    (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), TypeError, r"x.float\(\) / 255"),
    ([0.5] * 784, TypeError, r"got list. Convert it with torch.as_tensor\(x\)"),
])  # fmt: skip
def test_image_batches(x, error, match):
    with pytest.raises(error, match=match):
        checks.image_batch(x)


def test_good_images_pass_unchanged():
    x = torch.rand(4, 1, 28, 28)
    assert checks.image_batch(x) is x and checks.image_batch(x.flatten(1)).shape == (4, 784)


def test_a_model_on_another_device_is_named():
    x = torch.rand(2, 1, 28, 28)
    weight = torch.empty(3, device="meta")
    match = r"x is on cpu but the model is on meta: use x.to\('meta'\)"
    with pytest.raises(ValueError, match=match):
        checks.check_images(x, 28, "Encoder", like=weight)
    with pytest.raises(TypeError, match=r"dtype torch.float64 but the model's weights are "
                                        r"torch.float32: use x.to\(torch.float32\)"):
        checks.check_images(x.double(), 28, "Encoder", like=torch.empty(3))


@pytest.mark.parametrize("fn, args, error, match", [
    (checks.positive_int, (0, "n", "f"), ValueError, "f: n must be >= 1, got 0"),
    (checks.positive_int, (True, "n", "f"), TypeError, "n must be an int"),
    (checks.non_negative, (float("nan"), "lr", "f"), ValueError, "finite number >= 0"),
    (checks.labels, (torch.zeros(3), 3), TypeError, r"integer classes.*labels.long\(\)"),
    (checks.labels, (torch.zeros(4, dtype=torch.long), 3), ValueError, r"shape \(3,\)"),
    (checks.points, (torch.zeros(5, 3), "z", "f", 2), ValueError, r"shape \(N, 2\)"),
    (checks.points, (torch.full((5, 2), float("nan")), "z", "f"), ValueError, "NaN"),
])  # fmt: skip
def test_small_validators(fn, args, error, match):
    with pytest.raises(error, match=match):
        fn(*args)


def test_the_public_entry_points_check_their_input(isolated):
    ds = aelib.load_dataset("digits")
    with pytest.raises(TypeError, match="expects a Dataset"):
        aelib.zoo.pretrained("ae", ds.x_train)
    with pytest.raises(ValueError, match="Unknown model 'vea'"):
        aelib.zoo.build("vea")
    with pytest.raises(ValueError, match="device='cuda:7'"):
        aelib.zoo.pretrained("ae", ds, device="cuda:7")
    with pytest.raises(TypeError, match="name must be a string"):
        aelib.load_dataset(3)
    with pytest.raises(ValueError, match="Choose one of fashion-mnist, mnist, digits"):
        aelib.load_dataset("cifar10")
    with pytest.raises(TypeError, match="seed must be an int"):
        aelib.setup(seed="0", plots=False)
    with pytest.raises(TypeError, match="torch.nn.Module as model"):
        aelib.load_checkpoint("model.pt", "model.pt")


def test_plots_and_widgets_check_their_input():
    from aelib import models, plots, widgets

    with pytest.raises(ValueError, match=r"plot_latent: codes must have shape \(N, 2\); got"):
        plots.plot_latent(torch.zeros(5, 3))
    with pytest.raises(TypeError, match=r"labels must hold integer classes.*labels.long\(\)"):
        plots.plot_latent(torch.zeros(5, 2), torch.zeros(5))
    with pytest.raises(ValueError, match="decode: z contains NaN"):
        plots.decode(models.Decoder(), torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match=r"x has shape \(2, 3, 28, 28\).*x\[:, :1\]"):
        plots.image_grid(torch.zeros(2, 3, 28, 28))
    with pytest.raises(TypeError, match="torch.Tensor of latent codes as codes, got list"):
        widgets.latent_explorer(models.Decoder(), [[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"x_b has shape \(2, 1, 28, 28\); expected one 28x28"):
        widgets.interpolation_explorer(models.Autoencoder(), torch.rand(1, 28, 28),
                                       torch.rand(2, 1, 28, 28))  # fmt: skip
