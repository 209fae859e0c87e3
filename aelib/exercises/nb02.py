"""Exercises of 02_autoencoder: the lecture's encoder g by hand, and the MSE reconstruction loss."""

from __future__ import annotations

import torch

from ._core import Feedback, Mistake, check, register

# ------------------------------------------------------------------ 1. the encoder g


def encode_solution(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """g(x) of the lecture's encoder with plain tensor operations; params as in its state_dict."""
    w1, b1 = params["linear1.weight"], params["linear1.bias"]  # (100, 784), (100,)
    w2, b2 = params["linear2.weight"], params["linear2.bias"]  # (50, 100), (50,)
    w3, b3 = params["linear3.weight"], params["linear3.bias"]  # (2, 50), (2,)
    x = torch.flatten(x, start_dim=1)  # (B, 1, 28, 28) -> (B, 784), one row per image
    x = torch.relu(x @ w1.T + b1)  # (B, 784) -> (B, 100); nn.Linear computes x W^T + b
    x = torch.relu(x @ w2.T + b2)  # (B, 100) -> (B, 50)
    return x @ w3.T + b3  # (B, 50) -> (B, 2): no activation, a code may be negative


def _layers(p):
    return [(p[f"linear{i}.weight"], p[f"linear{i}.bias"]) for i in (1, 2, 3)]


def _mlp(x, p, hidden=torch.relu, last=lambda z: z, bias=True):
    (w1, b1), (w2, b2), (w3, b3) = _layers(p)
    if not bias:
        b1 = b2 = b3 = 0.0
    x = hidden(x @ w1.T + b1)
    x = hidden(x @ w2.T + b2)
    return last(x @ w3.T + b3)


ENCODER_MISTAKES = (
    Mistake("the images were flattened the wrong way: x.reshape(784, -1).T (or .view(784, B)) "
            "puts pixels of different images into one row. Keep the batch dimension first: "
            "torch.flatten(x, start_dim=1), (B, 1, 28, 28) -> (B, 784).",
            lambda x, p: _mlp(x.reshape(x.shape[-1] * x.shape[-2], -1).T, p)),
    Mistake("the pixels were flattened column by column (the image was transposed first, e.g. "
            "x.mT or x.transpose(2, 3)); flatten row by row with torch.flatten(x, start_dim=1), "
            "so that input i of linear1 is the pixel its weights were trained on.",
            lambda x, p: _mlp(x.transpose(-1, -2).flatten(1), p)),
    Mistake("apply a ReLU after linear1 and after linear2: without them the three layers "
            "collapse into one linear map, and the encoder can do no more than PCA.",
            lambda x, p: _mlp(x.flatten(1), p, hidden=lambda z: z)),
    Mistake("no ReLU after the last layer: the code z = linear3(...) must be free to take "
            "negative values, otherwise part of the latent space is cut off.",
            lambda x, p: _mlp(x.flatten(1), p, last=torch.relu)),
    Mistake("no sigmoid on the code: the sigmoid belongs to the decoder's output, where pixels "
            "lie in [0, 1]; the encoder's code z is unbounded.",
            lambda x, p: _mlp(x.flatten(1), p, last=torch.sigmoid)),
    Mistake("add the biases: nn.Linear computes x W^T + b, with b = params['linearN.bias'].",
            lambda x, p: _mlp(x.flatten(1), p, bias=False)),
)  # fmt: skip


def _encoder_inputs(g: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    b = int(torch.randint(2, 7, (1,), generator=g))
    latent_dims = int(torch.randint(2, 5, (1,), generator=g))
    sizes = [784, 100, 50, latent_dims]
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"linear{i}.weight"] = torch.randn(n_out, n_in, generator=g) * 2 / n_in**0.5
        params[f"linear{i}.bias"] = torch.randn(n_out, generator=g) * 0.5
    return torch.rand(b, 1, 28, 28, generator=g), params


def _observe_encoder(fn, inputs):
    try:
        return fn(*inputs)
    except RuntimeError as exc:
        if not any(s in str(exc) for s in ("shape", "size mismatch", "must match")):
            raise
        raise ValueError(
            f"{exc}. Check the shapes: flatten each image with the batch first, "
            "(B, 1, 28, 28) -> (B, 784), e.g. torch.flatten(x, start_dim=1), and apply each "
            "layer as x @ W.T + b (nn.Linear stores W as (out_features, in_features))."
        ) from None


@register("encoder", encode_solution, ENCODER_MISTAKES)
def check_encoder(fn) -> Feedback:
    """Check a student's encode(x, params) -> z against the lecture's encoder."""
    return check("encoder", fn, encode_solution, _encoder_inputs, ENCODER_MISTAKES,
                 observe=_observe_encoder)  # fmt: skip


# ------------------------------------------------------------ 2. the reconstruction loss


def reconstruction_mse_solution(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L(x, y) = mean over the batch and every pixel of (y - x)^2: what nn.MSELoss computes."""
    return (x_hat - x).square().mean()


MSE_MISTAKES = (
    Mistake("sum vs mean: you summed the squared errors over everything; the MSE averages them "
            "(.mean()), so that the loss does not grow with the batch size or the image size.",
            lambda y, x: (y - x).square().sum()),
    Mistake("sum vs mean: that sums over the pixels of each image and averages over the batch "
            "(the per-image squared error the VAE uses); here the loss is the mean per pixel, "
            "784 times smaller: average over the pixels too (.mean()).",
            lambda y, x: (y - x).square().flatten(1).sum(1).mean()),
    Mistake("square the differences before averaging: plain differences cancel (too dark in one "
            "pixel, too bright in another gives zero).",
            lambda y, x: (y - x).mean()),
    Mistake("that is the mean absolute error (L1); the MSE squares the differences instead of "
            "taking their absolute value.",
            lambda y, x: (y - x).abs().mean()),
    Mistake("that is the root mean squared error: drop the square root, the loss is the mean of "
            "the squared differences.",
            lambda y, x: (y - x).square().mean().sqrt()),
    Mistake("return one number for the whole batch: average over every dimension (.mean()), "
            "not only over the batch (dim 0).",
            lambda y, x: (y - x).square().mean(dim=0)),
    Mistake("return one number for the whole batch: after averaging over the pixels of each "
            "image, average over the images too.",
            lambda y, x: (y - x).square().flatten(1).mean(dim=1)),
)  # fmt: skip


def _mse_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    b = int(torch.randint(2, 9, (1,), generator=g))
    x = torch.rand(b, 1, 28, 28, generator=g)
    x_hat = torch.sigmoid(torch.randn(b, 1, 28, 28, generator=g)).requires_grad_(True)
    return x_hat, x


@register("reconstruction_mse", reconstruction_mse_solution, MSE_MISTAKES, trainable=True)
def check_reconstruction_mse(fn) -> Feedback:
    """Check a student's reconstruction_mse(x_hat, x) -> scalar against nn.MSELoss."""
    return check("reconstruction_mse", fn, reconstruction_mse_solution, _mse_inputs,
                 MSE_MISTAKES, gradients=True)  # fmt: skip
