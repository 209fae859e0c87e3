"""The IWAE estimator against a model whose log p(x) is known in closed form.

Linear-Gaussian model: z ~ N(0, I_k), x | z ~ N(W z + b, s^2 I_n), so
p(x) = N(b, W W^T + s^2 I) and the posterior is N(S W^T (x - b) / s^2, S) with
S = (I + W^T W / s^2)^-1. W has orthogonal columns, so S is diagonal and a diagonal q can
equal the posterior exactly.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from aelib.likelihood import (
    bernoulli_log_lik,
    bits_per_dim,
    gaussian_log_lik,
    importance_log_px,
    iwae_log_px,
)

K_LAT, N, S_NOISE, B = 2, 6, 0.5, 32


@pytest.fixture(scope="module")
def model():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(N, K_LAT, generator=g, dtype=torch.float64))
    w = q * torch.tensor([1.5, 0.8], dtype=torch.float64)  # orthogonal columns
    b = torch.randn(N, generator=g, dtype=torch.float64)
    marginal = MultivariateNormal(b, w @ w.T + S_NOISE**2 * torch.eye(N, dtype=torch.float64))
    x = marginal.sample((B,))
    post_var = torch.diag(torch.linalg.inv(torch.eye(K_LAT, dtype=torch.float64)
                                           + w.T @ w / S_NOISE**2))  # fmt: skip
    post_mu = (x - b) @ w / S_NOISE**2 * post_var
    log_lik = gaussian_log_lik(lambda z: z @ w.T + b, S_NOISE)
    return {"x": x, "log_px": marginal.log_prob(x), "post_mu": post_mu,
            "post_sigma": post_var.sqrt().expand_as(post_mu), "log_lik": log_lik}  # fmt: skip


def _inexact(m):
    """q shifted by 0.7 posterior sigmas and twice as wide: a poor but honest proposal."""
    return m["post_mu"] + 0.7 * m["post_sigma"], 2.0 * m["post_sigma"]


def _elbo(m, mu, sigma):
    """Closed form: ELBO = log p(x) - KL(q || posterior) (both diagonal Gaussians)."""
    pm, ps = m["post_mu"], m["post_sigma"]
    kl = (torch.log(ps / sigma) + (sigma**2 + (mu - pm) ** 2) / (2 * ps**2) - 0.5).sum(1)
    return m["log_px"] - kl


def test_exact_posterior_gives_exact_log_px_for_any_k(model):
    for k in (1, 7, 100):
        est = importance_log_px(model["x"], model["post_mu"], model["post_sigma"],
                                model["log_lik"], k, chunk=3)  # fmt: skip
        torch.testing.assert_close(est, model["log_px"], atol=1e-9, rtol=0)


def test_converges_to_closed_form_as_k_grows(model):
    mu, sigma = _inexact(model)
    g = torch.Generator().manual_seed(1)
    gaps = {}
    for k in (1, 10, 100, 10_000):
        est = importance_log_px(model["x"], mu, sigma, model["log_lik"], k, chunk=1000,
                                generator=g)  # fmt: skip
        gaps[k] = (model["log_px"] - est).mean().item()
    assert gaps[1] > 0.3, gaps  # the poor q leaves a clear gap at K = 1
    assert abs(gaps[10_000]) < 0.03, gaps
    assert abs(gaps[10_000]) < gaps[1] / 10, gaps


def test_mean_non_decreasing_in_k(model):
    mu, sigma = _inexact(model)
    g = torch.Generator().manual_seed(2)
    means = []
    for k in (1, 2, 5, 20, 100, 1000):
        reps = torch.stack([
            importance_log_px(model["x"], mu, sigma, model["log_lik"], k, chunk=500, generator=g)
            for _ in range(20)
        ])
        means.append(reps.mean().item())
    assert all(b >= a - 0.01 for a, b in zip(means, means[1:])), means
    assert means[-1] <= model["log_px"].mean().item() + 0.01  # still a bound, up to noise


def test_k1_is_the_elbo_in_expectation(model):
    mu, sigma = _inexact(model)
    g = torch.Generator().manual_seed(3)
    reps = torch.stack([importance_log_px(model["x"], mu, sigma, model["log_lik"], 1,
                                          generator=g) for _ in range(4000)])  # fmt: skip
    est, elbo = reps.mean(0), _elbo(model, mu, sigma)
    se = reps.std(0) / math.sqrt(len(reps))
    assert ((est - elbo).abs() < 4 * se + 1e-6).all(), (est - elbo, se)


def test_chunking_does_not_change_the_estimate(model):
    mu, sigma = _inexact(model)
    a = importance_log_px(model["x"], mu, sigma, model["log_lik"], 50, chunk=50,
                          generator=torch.Generator().manual_seed(4))  # fmt: skip
    b = importance_log_px(model["x"], mu, sigma, model["log_lik"], 50, chunk=7,
                          generator=torch.Generator().manual_seed(4))  # fmt: skip
    assert a.shape == b.shape == (B,)
    # the same draws in other groupings: equal up to float rounding
    torch.testing.assert_close(a, b, atol=1e-9, rtol=0)


def test_iwae_on_a_vae_and_bits_per_dim():
    from aelib.models import VarAutoencoder

    torch.manual_seed(0)
    vae = VarAutoencoder().train()
    x = torch.rand(5, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    lp = iwae_log_px(vae, x, k=20, batch_size=2, chunk=6, generator=g)
    assert lp.shape == (5,) and torch.isfinite(lp).all() and (lp < 0).all()
    assert vae.training, "the model's mode is restored"
    # K = 1 agrees with -BCE - KL in expectation; here just the Bernoulli term's sign and scale
    z = torch.zeros(1, 2)
    assert bernoulli_log_lik(vae.decoder)(z, x[:1]).item() < 0
    assert bits_per_dim(-784 * math.log(2.0)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        iwae_log_px(vae, x, k=0)
