"""Importance-weighted estimates of log p(x) for a VAE (08_five_uses_measured).

For a VAE with prior p(z) = N(0, I), decoder likelihood p(x | z) and encoder
q(z | x) = N(mu, diag sigma^2), the importance-weighted (IWAE) estimate with K samples is

    log p_K(x) = log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x).

Its expectation is a lower bound on log p(x) that rises with K (K = 1 is the ELBO) and
reaches log p(x) as K -> infinity. The likelihood term is pluggable: ``bernoulli_log_lik``
is the one the course's VAE was trained with (BCE summed over pixels), ``gaussian_log_lik``
serves the linear-Gaussian check in tests/test_likelihood.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LogLik = Callable[[Tensor, Tensor], Tensor]  # (z (M, k), x (M, ...)) -> log p(x | z) (M,)

__all__ = ["importance_log_px", "iwae_log_px", "bernoulli_log_lik", "gaussian_log_lik",
           "bits_per_dim"]  # fmt: skip


def bernoulli_log_lik(decoder: Callable[[Tensor], Tensor]) -> LogLik:
    """log p(x | z) = -BCE(h(z), x) summed over pixels: the VAE's training likelihood (04).

    On grey pixels in [0, 1] this is not a normalised density over [0, 1]^n, so values are
    "nats under the Bernoulli model", comparable between models with this decoder only.
    """

    def log_lik(z: Tensor, x: Tensor) -> Tensor:
        y = decoder(z).reshape(x.shape)
        return -F.binary_cross_entropy(y, x, reduction="none").flatten(1).sum(1)

    return log_lik


def gaussian_log_lik(mean_fn: Callable[[Tensor], Tensor], sigma: float) -> LogLik:
    """log N(x; mean_fn(z), sigma^2 I), summed over dimensions."""

    def log_lik(z: Tensor, x: Tensor) -> Tensor:
        d = (x - mean_fn(z).reshape(x.shape)).flatten(1)
        n = d.shape[1]
        return -0.5 * (d.square().sum(1) / sigma**2 + n * math.log(2 * math.pi * sigma**2))

    return log_lik


def _log_normal(z: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """log N(z; mu, diag sigma^2) summed over the last dimension."""
    return (-0.5 * ((z - mu) / sigma).square() - torch.log(sigma)
            - 0.5 * math.log(2 * math.pi)).sum(-1)  # fmt: skip


@torch.no_grad()
def importance_log_px(
    x: Tensor, mu: Tensor, sigma: Tensor, log_lik: LogLik, k: int, chunk: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ N(mu, sigma^2), per row of x.

    ``mu`` and ``sigma`` are q's parameters (B, latent). The K samples are drawn ``chunk`` at
    a time and combined with a running logsumexp, so memory grows with chunk, not with K.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}.")
    if mu.shape != sigma.shape or mu.ndim != 2 or mu.shape[0] != x.shape[0]:
        raise ValueError(f"mu {tuple(mu.shape)} and sigma {tuple(sigma.shape)} must both be "
                         f"(B, latent) with B = {x.shape[0]} rows of x.")  # fmt: skip
    b, latent = mu.shape
    acc = torch.full((b,), -math.inf, dtype=mu.dtype, device=mu.device)
    done = 0
    while done < k:
        m = min(chunk, k - done)
        zeta = torch.randn(m, b, latent, generator=generator, dtype=mu.dtype).to(mu.device)
        z = mu + sigma * zeta  # (m, B, latent)
        xs = x.unsqueeze(0).expand(m, *x.shape).reshape(m * b, *x.shape[1:])
        log_px_z = log_lik(z.reshape(m * b, latent), xs).reshape(m, b)
        log_w = log_px_z + _log_normal(z, torch.zeros_like(mu), torch.ones_like(sigma)) \
            - _log_normal(z, mu, sigma)
        acc = torch.logaddexp(acc, torch.logsumexp(log_w, dim=0))
        done += m
    return acc - math.log(k)


@torch.no_grad()
def iwae_log_px(
    model: nn.Module, x: Tensor, k: int, batch_size: int = 500, chunk: int = 100,
    log_lik: LogLik | None = None, generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """IWAE estimate of log p(x) in nats, one value per image, for the course's VAE.

    ``model.encoder(x)`` gives (mu, sigma) of q(z | x); ``log_lik`` defaults to the
    Bernoulli likelihood of ``model.decoder`` (the one in the VAE's training loss). K = 1
    is a one-sample ELBO; the mean over images rises with K towards log p(x).
    """
    log_lik = log_lik or bernoulli_log_lik(model.decoder)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            mu, sigma = model.encoder(xb)
            out.append(importance_log_px(xb, mu, sigma, log_lik, k, chunk, generator).cpu())
        return torch.cat(out)
    finally:
        model.train(was_training)


def bits_per_dim(log_px: Tensor | float, n: int = 784) -> Tensor | float:
    """-log p(x) in nats over n dimensions -> bits per dimension: -log p(x) / (n ln 2)."""
    return -log_px / (n * math.log(2.0))
