"""aelib.models against the lecture's torchinfo table, shapes and clear shape errors."""

from __future__ import annotations

import pytest
import torch
from torchinfo import summary

from aelib import models as M

INPUT = (3, 1, 28, 28)  # the lecture's n_samples, in_channels, s_img, s_img


def linear_rows(model):
    stats = summary(model, INPUT, verbose=0, col_names=["num_params", "mult_adds"])
    rows = [(layer.var_name, layer.num_params, layer.macs)
            for layer in stats.summary_list if layer.class_name == "Linear"]  # fmt: skip
    return stats, rows


def test_autoencoder_matches_the_lecture_table():
    stats, rows = linear_rows(M.Autoencoder(latent_dims=2, s_img=28, hdim=[100, 50]))
    assert stats.total_params == 168_086
    assert [r[1] for r in rows] == [78_500, 5_050, 102, 150, 5_100, 79_184]
    # torchinfo 1.8 counts the bias in mult-adds: 3 * (784 * 100 + 100)
    assert rows[0][2] == 235_500
    assert [r[0] for r in rows] == ["linear1", "linear2", "linear3"] * 2


def test_vae_matches_the_lecture_table():
    stats, rows = linear_rows(M.VarAutoencoder(latent_dims=2, s_img=28, hdim=[100, 50]))
    assert stats.total_params == 251_738
    assert sorted(r[1] for r in rows) == sorted(
        [78_500, 5_050, 102, 78_500, 5_050, 102, 150, 5_100, 79_184]
    )
    names = {r[0] for r in rows}
    assert {"linear1_1", "linear2_1", "linear3_1", "linear1_2", "linear2_2", "linear3_2"} <= names


def test_count_parameters_agrees_with_torchinfo():
    assert M.count_parameters(M.Autoencoder()) == 168_086
    assert M.count_parameters(M.VarAutoencoder()) == 251_738


def test_autoencoder_shapes_and_range():
    model = M.Autoencoder()
    x = torch.rand(INPUT)
    with torch.no_grad():
        z = model.encoder(x)
        y = model(x)
    assert z.shape == (3, 2) and y.shape == INPUT
    assert float(y.min()) > 0.0 and float(y.max()) < 1.0  # sigmoid output
    assert model(x.flatten(1)).shape == INPUT  # (B, 784) is accepted too


def test_vae_samples_in_training_and_uses_the_mean_in_eval():
    torch.manual_seed(0)
    model = M.VarAutoencoder()
    x = torch.rand(INPUT)
    mu, sigma = model.encoder(x)
    assert mu.shape == sigma.shape == (3, 2) and bool((sigma > 0).all())
    model.train()
    a, b = model(x)[0], model(x)[0]
    assert not torch.equal(a, b)  # z = mu + sigma * zeta differs each call
    model.eval()
    x_hat, mu2, _ = model(x)
    torch.testing.assert_close(x_hat, model.decoder(mu2))  # eval decodes z = mu
    assert model.sample(5).shape == (5, 1, 28, 28)


def test_reparameterize_lets_gradients_reach_mu_and_sigma():
    mu = torch.zeros(4, 2, requires_grad=True)
    sigma = torch.ones(4, 2, requires_grad=True)
    M.VarAutoencoder.reparameterize(mu, sigma).sum().backward()
    assert mu.grad is not None and sigma.grad is not None
    assert torch.equal(mu.grad, torch.ones(4, 2))


def test_linear_autoencoder_and_gan_shapes():
    lin = M.LinearAutoencoder(latent_dims=5)
    assert lin.encode(torch.rand(INPUT)).shape == (3, 5)
    assert lin(torch.rand(INPUT)).shape == INPUT
    gan = M.GAN()
    fake = gan.generator(torch.randn(7, 2))
    assert fake.shape == (7, 1, 28, 28)
    assert gan.discriminator(fake).shape == (7,)


@pytest.mark.parametrize(
    "make, bad, match",
    [
        (lambda: M.Autoencoder(), torch.rand(28, 28), r"got \(28, 28\).*unsqueeze\(0\)"),
        (lambda: M.Autoencoder(), torch.rand(3, 1, 32, 32), r"28x28 images.*got \(3, 1, 32, 32\)"),
        (lambda: M.VarAutoencoder(), torch.rand(784), r"unsqueeze\(0\)"),
        (lambda: M.Autoencoder().decoder, torch.rand(2), r"codes shaped \(B, 2\).*unsqueeze"),
        (lambda: M.Autoencoder().decoder, torch.rand(4, 3), r"codes shaped \(B, 2\); got \(4, 3\)"),
        (lambda: M.GAN().discriminator, torch.rand(5, 100), r"got \(5, 100\)"),
        # (B, 28, 28) used to pass as (B, 784) and then broadcast against (B, 1, 28, 28)
        (lambda: M.Autoencoder(), torch.rand(5, 28, 28), r"got \(5, 28, 28\).*unsqueeze\(1\)"),
        (lambda: M.VarAutoencoder(), torch.rand(1, 28, 28), r"got \(1, 28, 28\).*unsqueeze\(0\)"),
        (lambda: M.LinearAutoencoder().encode, torch.rand(5, 2, 28, 28), r"got \(5, 2, 28, 28\)"),
    ],
)
def test_wrong_shapes_get_a_clear_error(make, bad, match):
    with pytest.raises(ValueError, match=match):
        make()(bad)


def test_non_tensor_input_is_explained():
    with pytest.raises(TypeError, match="expects a torch.Tensor"):
        M.Autoencoder()([[0.0] * 784])


@pytest.mark.parametrize("x, match", [
    ((torch.rand(2, 1, 28, 28) * 255).to(torch.uint8), r"dtype torch.uint8.*x.float\(\) / 255"),
    (torch.zeros(2, 784, dtype=torch.int64), r"dtype torch.int64.*x.float\(\)"),
])  # fmt: skip
def test_integer_images_are_explained(x, match):
    with pytest.raises(TypeError, match=match):
        M.Autoencoder()(x)
