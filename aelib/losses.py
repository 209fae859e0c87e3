"""Losses and penalties: reconstruction, KL to N(0, I), ELBO, contractive, corruption.

Reductions are stated, never implied: ``"mean"`` averages over the batch after summing
over pixels (or latent dimensions), ``"sum"`` sums over everything, ``"none"`` keeps one
value per example. ``mse_per_pixel`` is the plain mean over all pixels (nn.MSELoss).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _reduce(per_example: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")


def _check_same_shape(x_hat: Tensor, x: Tensor) -> None:
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must have the same shape; "
            "reshape one of them (e.g. x_hat.view_as(x))."
        )


def mse_per_pixel(x_hat: Tensor, x: Tensor) -> Tensor:
    """Mean squared error over every pixel of the batch (02_autoencoder)."""
    _check_same_shape(x_hat, x)
    return F.mse_loss(x_hat, x)


def reconstruction_loss(
    x_hat: Tensor, x: Tensor, kind: str = "mse", reduction: str = "mean"
) -> Tensor:
    """Squared error or binary cross-entropy summed over pixels, then reduced over the batch."""
    _check_same_shape(x_hat, x)
    if kind == "mse":
        per_pixel = (x_hat - x).square()
    elif kind == "bce":
        per_pixel = F.binary_cross_entropy(x_hat, x, reduction="none")
    else:
        raise ValueError(f"kind must be 'mse' or 'bce', got {kind!r}.")
    return _reduce(per_pixel.flatten(1).sum(1), reduction)


def kl_to_standard_normal(mu: Tensor, sigma: Tensor, reduction: str = "mean") -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) = 0.5 * sum(mu^2 + sigma^2 - 2 log sigma - 1) (04_vae)."""
    if mu.shape != sigma.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and sigma {tuple(sigma.shape)} must match.")
    per_dim = 0.5 * (mu.square() + sigma.square() - 2.0 * torch.log(sigma) - 1.0)
    return _reduce(per_dim.flatten(1).sum(1), reduction)


def vae_loss(
    x_hat: Tensor, x: Tensor, mu: Tensor, sigma: Tensor, beta: float = 1.0, kind: str = "bce"
) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO per image: (reconstruction + beta * KL, reconstruction, KL) (04_vae)."""
    recon = reconstruction_loss(x_hat, x, kind=kind)
    kl = kl_to_standard_normal(mu, sigma)
    return recon + beta * kl, recon, kl


def contractive_penalty(encoder: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Exact squared Frobenius norm of the encoder Jacobian dz/dx, averaged over the batch.

    One backward pass per latent dimension (two for the lecture's 2-D code), kept in the
    graph so the penalty itself can be trained (03_regularized_autoencoders).
    Assumes examples do not interact inside the encoder (no batch norm).
    """
    x = x.detach().requires_grad_(True)
    z = encoder(x)  # (B, k)
    total = x.new_zeros(())
    for k in range(z.shape[1]):
        (row,) = torch.autograd.grad(z[:, k].sum(), x, create_graph=True)  # dz_k/dx per example
        total = total + row.square().sum()
    return total / x.shape[0]


def corrupt(
    x: Tensor, kind: str = "gaussian", level: float = 0.3, generator: torch.Generator | None = None
) -> Tensor:
    """x + e: Gaussian noise of std ``level``, or masking that zeroes a ``level`` fraction (03)."""
    if not 0.0 <= level <= (1.0 if kind == "mask" else float("inf")):
        raise ValueError(f"level must be in [0, 1] for masking and >= 0 for noise, got {level}.")
    # a CPU generator draws on the CPU (same numbers on every device); else draw in place
    device = "cpu" if generator is not None else x.device
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=device).to(x.device)
        return (x + level * noise).clamp(0.0, 1.0)
    if kind == "mask":
        keep = torch.rand(x.shape, generator=generator, device=device).to(x.device) >= level
        return x * keep
    raise ValueError(f"kind must be 'gaussian' or 'mask', got {kind!r}.")
