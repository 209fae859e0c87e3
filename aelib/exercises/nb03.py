"""Exercises of 03_regularized_autoencoders: the denoising loss and the contractive penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._core import WRONG, Feedback, Mistake, check, register


def _random_mlp(g: torch.Generator, sizes: tuple[int, ...], act: nn.Module,
                out: nn.Module | None = None, gain: float = 2.0) -> nn.Sequential:  # fmt: skip
    """A small MLP on (B, 1, 28, 28) images whose weights come from ``g`` only.

    The weights are larger than PyTorch's default, so that the output reacts clearly to
    its input and a wrong input (noisy vs clean, clipped vs not) changes the loss.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_out, n_in, generator=g) * gain / n_in**0.5)
            lin.bias.copy_(torch.randn(n_out, generator=g) * 0.1)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act)
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------ the denoising loss


def denoising_loss_solution(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, e: torch.Tensor
) -> torch.Tensor:
    """f_L = L(x, h(g(x + e))): reconstruct the CLEAN x from the corrupted x + e."""
    x_tilde = (x + e).clamp(0.0, 1.0)  # corrupt on purpose; pixels stay in [0, 1]
    x_hat = model(x_tilde)  # h(g(x + e)), shaped like x
    return F.mse_loss(x_hat, x)  # the target is the clean image, not x_tilde


DENOISING_MISTAKES = (
    Mistake("the target is the noisy x + e: you compare the denoised output with the NOISY "
            "input, so the best the model can do is copy the noise. Compare h(g(x + e)) with "
            "the CLEAN x: F.mse_loss(model(x_tilde), x).",
            lambda model, x, e: F.mse_loss(model((x + e).clamp(0, 1)), (x + e).clamp(0, 1))),
    Mistake("the model never sees the noise: you reconstruct the clean x from the clean x (a "
            "plain autoencoder). Feed the corrupted x_tilde = x + e to the model, and compare "
            "its output with the clean x.",
            lambda model, x, e: F.mse_loss(model(x), x)),
    Mistake("the roles are swapped: the model gets the corrupted x + e as input, and the clean "
            "x is the target (you fed the clean x and asked for the noisy one).",
            lambda model, x, e: F.mse_loss(model(x), (x + e).clamp(0, 1))),
    Mistake("clip the corrupted image to [0, 1] with .clamp(0, 1): pixels are intensities, and "
            "x + e alone goes below 0 and above 1 (aelib.losses.corrupt clips too).",
            lambda model, x, e: F.mse_loss(model(x + e), x)),
    Mistake("sum vs mean: use the mean squared error per pixel (F.mse_loss's default "
            "reduction='mean'), as for the plain autoencoder; the sum grows with the batch.",
            lambda model, x, e: F.mse_loss(model((x + e).clamp(0, 1)), x, reduction="sum")),
)  # fmt: skip


def _denoising_inputs(g: torch.Generator) -> tuple:
    model = _random_mlp(g, (784, 32, 784), nn.ReLU(), nn.Sigmoid())
    x = torch.rand(6, 1, 28, 28, generator=g)
    e = 0.4 * torch.randn(6, 1, 28, 28, generator=g)

    return _ImageAE(model), x, e


class _ImageAE(nn.Module):
    """(B, 1, 28, 28) -> (B, 1, 28, 28), like the lecture AE; its weights are checked too."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.net(inp).reshape(inp.shape)


@register("denoising_loss", denoising_loss_solution, DENOISING_MISTAKES, trainable=True)
def check_denoising_loss(fn) -> Feedback:
    """Check a student's denoising_loss(model, x, e) -> scalar against h(g(x + e)) vs clean x."""
    return check("denoising_loss", fn, denoising_loss_solution, _denoising_inputs,
                 DENOISING_MISTAKES, gradients=True)  # fmt: skip


# -------------------------------------------------------------------- the contractive penalty


def contractive_penalty_solution(
    encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """||J_g(x)||_F^2 = sum_j sum_i (dz_j / dx_i)^2 per image, averaged over the batch."""
    x = x.detach().requires_grad_(True)  # we differentiate with respect to the input
    z = encoder(x)  # (B, 1, 28, 28) -> (B, k)
    penalty = x.new_zeros(())
    for j in range(z.shape[1]):  # one backward pass per latent dimension: row j of J
        # images do not interact, so the gradient of the batch sum is each image's dz_j/dx
        (row_j,) = torch.autograd.grad(z[:, j].sum(), x, create_graph=True)  # (B, 1, 28, 28)
        penalty = penalty + row_j.square().sum()
    return penalty / x.shape[0]  # mean over the batch, like aelib.losses.contractive_penalty


def _jacobian_rows(encoder, x: torch.Tensor, create_graph: bool = True) -> list[torch.Tensor]:
    x = x.detach().requires_grad_(True)
    z = encoder(x)
    return [torch.autograd.grad(z[:, j].sum(), x, create_graph=create_graph,
                                retain_graph=True)[0].flatten(1)
            for j in range(z.shape[1])]  # k tensors (B, 784)  # fmt: skip


def _not_squared(encoder, x):
    per_image = torch.stack([r.square().sum(1) for r in _jacobian_rows(encoder, x)]).sum(0)
    return per_image.sqrt().mean()  # ||J||_F, not ||J||_F^2


def _absolute(encoder, x):
    return sum(r.abs().sum() for r in _jacobian_rows(encoder, x)) / x.shape[0]


def _batch_sum(encoder, x):
    return sum(r.square().sum() for r in _jacobian_rows(encoder, x))


def _entry_mean(encoder, x):
    rows = _jacobian_rows(encoder, x)
    return torch.stack([r.square().mean(1) for r in rows]).mean()


def _one_backward(encoder, x):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(encoder(x).sum(), x, create_graph=True)
    return grad.square().sum() / x.shape[0]


def _no_graph(encoder, x):
    rows = _jacobian_rows(encoder, x, create_graph=False)
    return sum(r.square().sum() for r in rows) / x.shape[0]


def _per_image(encoder, x):
    return torch.stack([r.square().sum(1) for r in _jacobian_rows(encoder, x)]).sum(0)


CONTRACTIVE_MISTAKES = (
    Mistake("the Jacobian norm is not squared: the penalty is the SQUARED Frobenius norm "
            "||J||_F^2 = sum of (dz_j/dx_i)^2, without the square root that torch.linalg.norm "
            "or .norm() takes.",
            _not_squared),
    Mistake("the Frobenius norm squares every entry of the Jacobian; summing absolute values "
            "(.abs()) gives an L1 norm instead. Use .square() (or ** 2).",
            _absolute),
    Mistake("the penalty is summed over the batch instead of averaged: divide by the number of "
            "images B, as aelib.losses.contractive_penalty does, so that the penalty does not "
            "grow with the batch size.",
            _batch_sum),
    Mistake("sum the squares over all pixels and latent dimensions: .mean() over the entries "
            "divides the squared Frobenius norm by 784 * k. Only the batch is averaged.",
            _entry_mean),
    Mistake("one gradient of z.sum() adds the Jacobian's rows before squaring (it computes "
            "||sum_j dz_j/dx||^2, with cross terms). Take one gradient per latent dimension, "
            "of z[:, j].sum(), and add up the squares of each.",
            _one_backward),
    Mistake("the value is right, but it carries no gradient to the encoder's weights, so "
            "training cannot lower it: pass create_graph=True to torch.autograd.grad (or to "
            "torch.autograd.functional.jacobian).",
            _no_graph),
    Mistake("return one number for the batch (the mean over the images), not one value per "
            "image: the penalty is added to the scalar loss.",
            _per_image),
)  # fmt: skip


def _contractive_inputs(g: torch.Generator) -> tuple:
    encoder = _random_mlp(g, (784, 16, 3), nn.Tanh())
    x = torch.rand(5, 1, 28, 28, generator=g)
    return encoder, x


def _observe_penalty(fn, inputs: tuple) -> tuple:
    """The penalty's value and whether it can be trained (it is connected to the weights)."""
    encoder, _ = inputs
    out = fn(*inputs)
    if not isinstance(out, torch.Tensor):
        return ("returns", type(out).__name__)
    weight = next(encoder.parameters())
    trainable = out.requires_grad and out.dim() == 0 and torch.autograd.grad(
        out, weight, allow_unused=True, retain_graph=True)[0] is not None  # fmt: skip
    return out.detach(), trainable


@register("contractive_penalty", contractive_penalty_solution, CONTRACTIVE_MISTAKES,
          trainable=True)
def check_contractive_penalty(fn) -> Feedback:
    """Check a student's contractive_penalty(encoder, x) -> scalar ||J_g(x)||_F^2 (batch mean)."""
    feedback = check("contractive_penalty", fn, contractive_penalty_solution,
                     _contractive_inputs, CONTRACTIVE_MISTAKES,
                     observe=_observe_penalty)  # fmt: skip
    if feedback.status != WRONG:
        return feedback
    for symptom, hint in _ERROR_HINTS.items():
        if symptom in feedback.message:
            return Feedback("contractive_penalty", WRONG, hint)
    return feedback


_ERROR_HINTS = {  # errors that a common slip raises, and what the slip is
    "does not require grad": "the gradient with respect to x needs x to be tracked: start "
    "with x = x.detach().requires_grad_(True), then run the encoder on that x.",
    "backward through the graph a second time": "the graph was freed after the first "
    "torch.autograd.grad call: pass create_graph=True, which keeps the graph for the next "
    "latent dimension and lets the penalty itself be trained.",
}
