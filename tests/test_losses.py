"""aelib.losses against torch's own: distributions for the KL, autograd for the Jacobian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from aelib import losses as L
from aelib import models as M


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(16, 2, generator=g) * 2
    sigma = torch.rand(16, 2, generator=g) * 3 + 0.05
    ref = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(L.kl_to_standard_normal(mu, sigma, reduction="none"), ref)
    torch.testing.assert_close(L.kl_to_standard_normal(mu, sigma), ref.mean())
    torch.testing.assert_close(L.kl_to_standard_normal(mu, sigma, reduction="sum"), ref.sum())


def test_kl_is_zero_only_at_the_prior():
    assert float(L.kl_to_standard_normal(torch.zeros(1, 2), torch.ones(1, 2))) == 0.0
    sigma = torch.linspace(0.2, 3, 281).unsqueeze(1)
    kl = L.kl_to_standard_normal(torch.zeros_like(sigma), sigma, reduction="none")
    assert abs(float(sigma[kl.argmin()]) - 1.0) < 1e-6


def test_kl_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match="mu .* and sigma .* must match"):
        L.kl_to_standard_normal(torch.zeros(3, 2), torch.ones(3, 3))


def test_reconstruction_losses_state_their_reduction():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 1, 28, 28, generator=g)
    x_hat = torch.rand(5, 1, 28, 28, generator=g).clamp(0.01, 0.99)
    torch.testing.assert_close(L.mse_per_pixel(x_hat, x), F.mse_loss(x_hat, x))
    mse_sum = F.mse_loss(x_hat, x, reduction="sum")
    torch.testing.assert_close(L.reconstruction_loss(x_hat, x, "mse", "sum"), mse_sum)
    torch.testing.assert_close(L.reconstruction_loss(x_hat, x, "mse"), mse_sum / 5)
    bce = F.binary_cross_entropy(x_hat, x, reduction="sum") / 5
    torch.testing.assert_close(L.reconstruction_loss(x_hat, x, "bce"), bce)
    assert L.reconstruction_loss(x_hat, x, reduction="none").shape == (5,)
    with pytest.raises(ValueError, match="same shape"):
        L.mse_per_pixel(x_hat.flatten(1), x)
    with pytest.raises(ValueError, match="reduction must be"):
        L.reconstruction_loss(x_hat, x, reduction="avg")


def test_vae_loss_is_reconstruction_plus_beta_kl():
    x = torch.rand(4, 1, 28, 28)
    x_hat = torch.rand(4, 1, 28, 28).clamp(0.01, 0.99)
    mu, sigma = torch.randn(4, 2), torch.rand(4, 2) + 0.1
    total, recon, kl = L.vae_loss(x_hat, x, mu, sigma, beta=2.5)
    torch.testing.assert_close(total, recon + 2.5 * kl)
    torch.testing.assert_close(kl, L.kl_to_standard_normal(mu, sigma))


def test_contractive_penalty_is_the_squared_frobenius_norm_of_the_jacobian():
    torch.manual_seed(0)
    encoder = M.Encoder(latent_dims=3)
    x = torch.rand(4, 1, 28, 28)
    expected = torch.stack([
        torch.autograd.functional.jacobian(lambda v: encoder(v.unsqueeze(0))[0], xi).square().sum()
        for xi in x
    ]).mean()  # fmt: skip
    torch.testing.assert_close(L.contractive_penalty(encoder, x), expected)


def test_contractive_penalty_trains_the_encoder():
    encoder = M.Encoder()
    L.contractive_penalty(encoder, torch.rand(8, 1, 28, 28)).backward()
    assert encoder.linear1.weight.grad is not None
    assert float(encoder.linear1.weight.grad.abs().sum()) > 0


def test_corruption():
    x = torch.full((200, 1, 28, 28), 0.5)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    noisy = L.corrupt(x, "gaussian", 0.2, generator=g())
    assert torch.equal(noisy, L.corrupt(x, "gaussian", 0.2, generator=g()))
    assert 0.0 <= float(noisy.min()) and float(noisy.max()) <= 1.0
    assert abs(float((noisy - x).std()) - 0.2) < 0.01
    masked = L.corrupt(x, "mask", 0.25, generator=g())
    assert abs(float((masked == 0).float().mean()) - 0.25) < 0.01
    assert torch.equal(L.corrupt(x, "gaussian", 0.0), x)
    with pytest.raises(ValueError, match="kind must be"):
        L.corrupt(x, "salt")
    with pytest.raises(ValueError, match="level must be"):
        L.corrupt(x, "mask", 1.5)
