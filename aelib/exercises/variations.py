"""Implement exercises that vary on what the lessons show (issue 15): the answer is not
printed in the notebook. Per-image error (02), the tied-weights contractive penalty (03),
a Gaussian decoder's loss (04), the importance-weighted bound (05)."""

from __future__ import annotations

import math

import torch

from ._core import Feedback, Mistake, check, register

# ------------------------------------------------------------ 02: per-image squared error


def per_image_sse_solution(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each image's pixels: one value per image, shape (B,)."""
    return (x_hat - x).square().flatten(1).sum(dim=1)


PER_IMAGE_MISTAKES = (
    Mistake("one value per image: sum over the pixels (dims 1, 2, 3), not over the batch.",
            lambda y, x: (y - x).square().sum(dim=0)),
    Mistake("sum over the pixels, do not average them: the per-image error is 784 times the "
            "per-pixel MSE.", lambda y, x: (y - x).square().flatten(1).mean(dim=1)),
    Mistake("return the (B,) vector, not its batch mean.",
            lambda y, x: (y - x).square().flatten(1).sum(dim=1).mean()),
)  # fmt: skip


def _per_image_inputs(g):
    b = int(torch.randint(2, 7, (1,), generator=g))
    x = torch.rand(b, 1, 28, 28, generator=g)
    return torch.rand(b, 1, 28, 28, generator=g).requires_grad_(True), x


@register("per_image_sse", per_image_sse_solution, PER_IMAGE_MISTAKES, trainable=True)
def check_per_image_sse(fn) -> Feedback:
    """Check a student's per_image_sse(x_hat, x) -> (B,)."""
    return check("per_image_sse", fn, per_image_sse_solution, _per_image_inputs,
                 PER_IMAGE_MISTAKES, gradients=True)  # fmt: skip


# ------------------------------------------------------------ 03: tied-weights contractive


def tied_contractive_solution(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """||J||_F^2 of z = sigmoid(x W^T + b), in closed form, averaged over the batch.

    dz_j/dx_i = s_j (1 - s_j) W_ji, so ||J||_F^2 = sum_j (s_j (1 - s_j))^2 sum_i W_ji^2.
    """
    s = torch.sigmoid(x @ w.T + b)  # (B, k)
    return ((s * (1 - s)).square() * w.square().sum(dim=1)).sum(dim=1).mean()


TIED_MISTAKES = (
    Mistake("the derivative of the sigmoid is s (1 - s), squared in the Frobenius norm; you "
            "left it unsquared.",
            lambda w, b, x: ((torch.sigmoid(x @ w.T + b) * (1 - torch.sigmoid(x @ w.T + b)))
                             * w.square().sum(1)).sum(1).mean()),
    Mistake("the derivative of the sigmoid is missing: J = diag(s (1 - s)) W, not W.",
            lambda w, b, x: w.square().sum().expand(1).squeeze(0) + 0 * x.sum()),
    Mistake("average over the batch, not sum.",
            lambda w, b, x: ((torch.sigmoid(x @ w.T + b) * (1 - torch.sigmoid(x @ w.T + b)))
                             .square() * w.square().sum(1)).sum()),
)  # fmt: skip


def _tied_inputs(g):
    w = (torch.randn(3, 10, generator=g) * 0.5).requires_grad_(True)
    b = (torch.randn(3, generator=g) * 0.1).requires_grad_(True)
    return w, b, torch.rand(5, 10, generator=g)


@register("tied_contractive", tied_contractive_solution, TIED_MISTAKES, trainable=True)
def check_tied_contractive(fn) -> Feedback:
    """Check a student's tied_contractive(w, b, x) -> scalar."""
    return check("tied_contractive", fn, tied_contractive_solution, _tied_inputs,
                 TIED_MISTAKES, gradients=True)  # fmt: skip


# ------------------------------------------------------------ 04: a Gaussian decoder's loss


def gaussian_nll_solution(x_hat: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """-log N(x; x_hat, sigma^2 I), summed over the pixels, averaged over the batch."""
    n = x[0].numel()
    sq = (x - x_hat).square().flatten(1).sum(dim=1)  # (B,)
    return (sq / (2 * sigma**2) + n * math.log(sigma) + n / 2 * math.log(2 * math.pi)).mean()


GAUSS_MISTAKES = (
    Mistake("divide the squared error by 2 sigma^2, not by sigma^2.",
            lambda y, x, s: ((x - y).square().flatten(1).sum(1) / s**2 + x[0].numel()
                             * (math.log(s) + 0.5 * math.log(2 * math.pi))).mean()),
    Mistake("the normalising constant n log sigma + n/2 log(2 pi) is missing (it does not "
            "change the gradient, but it is part of the loss's value).",
            lambda y, x, s: ((x - y).square().flatten(1).sum(1) / (2 * s**2)).mean()),
    Mistake("sigma is the standard deviation: the variance is sigma**2.",
            lambda y, x, s: ((x - y).square().flatten(1).sum(1) / (2 * s) + x[0].numel()
                             * (0.5 * math.log(s) + 0.5 * math.log(2 * math.pi))).mean()),
)  # fmt: skip


def _gauss_inputs(g):
    x = torch.rand(4, 1, 28, 28, generator=g)
    x_hat = torch.rand(4, 1, 28, 28, generator=g).requires_grad_(True)
    return x_hat, x, float(torch.rand((), generator=g)) * 0.5 + 0.1


@register("gaussian_nll", gaussian_nll_solution, GAUSS_MISTAKES, trainable=True)
def check_gaussian_nll(fn) -> Feedback:
    """Check a student's gaussian_nll(x_hat, x, sigma) -> scalar."""
    return check("gaussian_nll", fn, gaussian_nll_solution, _gauss_inputs, GAUSS_MISTAKES,
                 gradients=True, rtol=1e-4, atol=1e-3)  # fmt: skip


# ------------------------------------------------------------ 05: importance-weighted bound


def iwae_bound_solution(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k per image, from log weights (B, K), averaged over the batch."""
    return (torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])).mean()


IWAE_MISTAKES = (
    Mistake("that averages the log weights: the ELBO, not the importance-weighted bound. "
            "Average the weights themselves inside the log (torch.logsumexp - log K).",
            lambda lw: lw.mean()),
    Mistake("subtract log K: the bound averages the K weights, logsumexp alone sums them.",
            lambda lw: torch.logsumexp(lw, dim=1).mean()),
)  # fmt: skip


def _iwae_inputs(g):
    return ((torch.randn(6, 5, generator=g) * 3 - 50).requires_grad_(True),)


@register("iwae_bound", iwae_bound_solution, IWAE_MISTAKES, trainable=True)
def check_iwae_bound(fn) -> Feedback:
    """Check a student's iwae_bound(log_w) -> scalar."""
    return check("iwae_bound", fn, iwae_bound_solution, _iwae_inputs, IWAE_MISTAKES,
                 gradients=True, atol=1e-4)  # fmt: skip
