"""Exercises of 04_variational_autoencoder: the closed-form KL term."""

from __future__ import annotations

import torch

from ._core import Feedback, Mistake, check, register


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
)  # fmt: skip


def _kl_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    mu = torch.randn(8, 2, generator=g)
    sigma = torch.rand(8, 2, generator=g) * 2 + 0.1
    return mu, sigma


@register("kl", kl_solution, KL_MISTAKES)
def check_kl(fn) -> Feedback:
    """Check a student's kl_term(mu, sigma) -> (B,) against the closed form."""
    return check("kl", fn, kl_solution, _kl_inputs, KL_MISTAKES)
