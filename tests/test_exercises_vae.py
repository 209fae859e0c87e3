"""The checkers of notebooks 04 and 05 accept every correct way of writing the answer,
not only the reference's, and explain wrong samplers in terms of samplers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from aelib import exercises, losses
from aelib.exercises._core import CORRECT, WRONG


def test_vae_loss_accepts_equivalent_forms():
    def via_aelib(x_hat, x, mu, sigma):
        return losses.vae_loss(x_hat, x, mu, sigma)[0]

    def sum_then_divide(x_hat, x, mu, sigma):
        kl = 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum()
        return (F.binary_cross_entropy(x_hat, x, reduction="sum") + kl) / len(x)

    for fn in (via_aelib, sum_then_divide):
        assert exercises.check_vae_loss(fn).status == CORRECT


def test_kl_accepts_torch_distributions():
    def kl(mu, sigma):
        return torch.distributions.kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).sum(1)

    assert exercises.check_kl(kl).status == CORRECT


def test_reparameterize_accepts_equivalent_samplers():
    samplers = (
        lambda mu, sigma: Normal(mu, sigma).rsample(),
        lambda mu, sigma: mu + sigma * Normal(0.0, 1.0).sample(mu.shape),
        lambda mu, sigma: mu + torch.exp(torch.log(sigma)) * torch.randn(mu.shape),
        lambda mu, sigma: torch.randn_like(sigma).mul(sigma).add(mu),
    )
    for fn in samplers:
        feedback = exercises.check_reparameterize(fn)
        assert feedback.status == CORRECT, feedback


def test_reparameterize_explains_an_unknown_wrong_scale_as_a_sampler():
    feedback = exercises.check_reparameterize(lambda mu, s: mu + 2 * s * torch.randn_like(s))
    assert feedback.status == WRONG
    assert "mu + sigma * zeta" in feedback.message and "random inputs" not in feedback.message


def test_reparameterize_rejects_wrong_shape():
    feedback = exercises.check_reparameterize(lambda mu, s: (mu + s * torch.randn_like(s))[0])
    assert feedback.status == WRONG and "shape" in feedback.message
    feedback = exercises.check_reparameterize(lambda mu, s: (mu + s * torch.randn_like(s)).tolist())
    assert feedback.status == WRONG and "tensor" in feedback.message


def test_score_function_accepts_autograd_version():
    def via_autograd(f_z, z, mu, sigma):
        mu = mu.clone().requires_grad_(True)
        sigma = sigma.clone().requires_grad_(True)
        surrogate = (f_z * Normal(mu, sigma).log_prob(z)).mean()
        return torch.autograd.grad(surrogate, (mu, sigma))

    assert exercises.check_score_function(via_autograd).status == CORRECT


def test_solutions_print():
    for name in ("vae_loss", "reparameterize", "score_function"):
        assert name in exercises.EXERCISES
