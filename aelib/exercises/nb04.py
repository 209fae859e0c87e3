"""Exercises of 04_variational_autoencoder: the closed-form KL term and the VAE loss per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Feedback, Mistake, check, register

# ----------------------------------------------------------------------------- the KL term


def kl_solution(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per example: sum over the latent dimensions."""
    return 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum(dim=1)


KL_MISTAKES = (
    Mistake("the 1/2 in front is missing: KL = 0.5 * sum(mu^2 + sigma^2 - 2 log sigma - 1).",
            lambda mu, s: (mu**2 + s**2 - 2 * torch.log(s) - 1).sum(dim=1)),
    Mistake("the log term is wrong: it is -2 log(sigma) (that is -log(sigma^2)), not -log(sigma). "
            "With -log(sigma) the minimum sits at sigma = 1/sqrt(2) instead of 1.",
            lambda mu, s: (s**2 + mu**2 - torch.log(s) - 0.5).sum(dim=1)),
    Mistake("the log term is wrong: it is -2 log(sigma) (that is -log(sigma^2)), not -log(sigma).",
            lambda mu, s: 0.5 * (mu**2 + s**2 - torch.log(s) - 1).sum(dim=1)),
    Mistake("sum over the latent dimensions, not the mean: each dimension adds its own KL.",
            lambda mu, s: 0.5 * (mu**2 + s**2 - 2 * torch.log(s) - 1).mean(dim=1)),
    Mistake("return one value per example (sum over dim=1), not one number for the batch.",
            lambda mu, s: 0.5 * (mu**2 + s**2 - 2 * torch.log(s) - 1).sum()),
    Mistake("sigma is the standard deviation, not the variance: the term is sigma**2 and "
            "-2 log(sigma); with sigma taken as the variance you wrote sigma - log(sigma).",
            lambda mu, s: 0.5 * (mu**2 + s - torch.log(s) - 1).sum(dim=1)),
)  # fmt: skip


def _kl_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    mu = torch.randn(8, 2, generator=g)
    sigma = torch.rand(8, 2, generator=g) * 2 + 0.1
    return mu.requires_grad_(True), sigma.requires_grad_(True)


@register("kl", kl_solution, KL_MISTAKES, trainable=True)
def check_kl(fn) -> Feedback:
    """Check a student's kl_term(mu, sigma) -> (B,) against the closed form."""
    return check("kl", fn, kl_solution, _kl_inputs, KL_MISTAKES, gradients=True)


# ---------------------------------------------------------------- the VAE loss per image


def vae_loss_solution(
    x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Negative ELBO per image: BCE summed over the pixels + KL, averaged over the batch."""
    recon = F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(dim=1)  # (B,)
    kl = 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum(dim=1)  # (B,)
    return (recon + kl).mean()


def _kl(mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return 0.5 * (mu**2 + s**2 - 2 * torch.log(s) - 1).sum(dim=1)


def _bce(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(dim=1)


VAE_LOSS_MISTAKES = (
    Mistake("sum vs mean: the reconstruction term must be summed over the 784 pixels (one "
            "log-likelihood per image). F.binary_cross_entropy's default reduction='mean' "
            "also averages over the pixels, which makes it 784 times too small next to the KL.",
            lambda xh, x, mu, s: F.binary_cross_entropy(xh, x) + _kl(mu, s).mean()),
    Mistake("sum vs mean: this is the loss of the whole batch (reduction='sum'); divide by the "
            "number of images (or take .mean() over the per-image values) to get the loss per "
            "image.",
            lambda xh, x, mu, s: F.binary_cross_entropy(xh, x, reduction="sum") + _kl(mu, s).sum()),
    Mistake("the regularization term is missing: add the KL of N(mu, sigma^2) to N(0, I), "
            "0.5 * sum(mu^2 + sigma^2 - 2 log sigma - 1) per image.",
            lambda xh, x, mu, s: _bce(xh, x).mean()),
    Mistake("the reconstruction term is missing: add the binary cross-entropy between x_hat "
            "and x, summed over the pixels.",
            lambda xh, x, mu, s: _kl(mu, s).mean()),
    Mistake("the KL term has the lecture's slip: it is 0.5 * (sigma^2 + mu^2 - 2 log sigma - 1), "
            "not sigma^2 + mu^2 - log sigma - 1/2.",
            lambda xh, x, mu, s: (_bce(xh, x)
                                  + (s**2 + mu**2 - torch.log(s) - 0.5).sum(dim=1)).mean()),
    Mistake("the arguments of the cross-entropy are swapped: F.binary_cross_entropy(x_hat, x) "
            "takes the prediction first and the target second.",
            lambda xh, x, mu, s: (F.binary_cross_entropy(x, xh, reduction="none").flatten(1)
                                  .sum(dim=1) + _kl(mu, s)).mean()),
    Mistake("this exercise asks for the binary cross-entropy as the reconstruction term (the "
            "Bernoulli likelihood of the text), not the squared error.",
            lambda xh, x, mu, s: ((xh - x).square().flatten(1).sum(dim=1) + _kl(mu, s)).mean()),
)  # fmt: skip


def _vae_loss_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    b = 6
    x_hat = torch.sigmoid(torch.randn(b, 1, 28, 28, generator=g))
    x = torch.rand(b, 1, 28, 28, generator=g)
    mu = torch.randn(b, 2, generator=g)
    sigma = torch.rand(b, 2, generator=g) * 2 + 0.1
    return tuple(t.requires_grad_(True) if t is not x else t for t in (x_hat, x, mu, sigma))


@register("vae_loss", vae_loss_solution, VAE_LOSS_MISTAKES, trainable=True)
def check_vae_loss(fn) -> Feedback:
    """Check a student's vae_loss(x_hat, x, mu, sigma) -> scalar loss per image."""
    return check("vae_loss", fn, vae_loss_solution, _vae_loss_inputs, VAE_LOSS_MISTAKES,
                 rtol=1e-4, atol=1e-3, gradients=True)  # fmt: skip
