"""Exercises of 01_dimension_reduction: the compression ratio of a code, and PCA's projection."""

from __future__ import annotations

import torch

from ._core import Feedback, Mistake, check, register

# ------------------------------------------------------------ 1. the compression ratio


def compression_ratio_solution(height: int, width: int, k: int) -> float:
    """Bytes of a raw grayscale image (1 byte per pixel) over bytes of a float32 code of size k."""
    image_bytes = height * width * 1  # uint8: one byte per pixel
    code_bytes = k * 4  # float32: four bytes per number
    return image_bytes / code_bytes


RATIO_MISTAKES = (
    Mistake("a float32 number takes 4 bytes, a uint8 pixel 1 byte: divide the image's bytes "
            "by 4 * k, not by k.",
            lambda h, w, k: h * w / k),
    Mistake("the ratio is upside down: compression ratio = original size / compressed size, "
            "so it is larger than 1 when the code is smaller than the image.",
            lambda h, w, k: 4 * k / (h * w)),
    Mistake("count bytes, not bits: 32 is the number of bits of a float32; it takes 4 bytes, "
            "and a pixel takes 1 byte.",
            lambda h, w, k: h * w / (32 * k)),
    Mistake("an image has height * width pixels, not height + width.",
            lambda h, w, k: (h + w) / (4 * k)),
    Mistake("use true division `/`: floor division `//` rounds the ratio down to an integer.",
            lambda h, w, k: h * w // (4 * k)),
)  # fmt: skip


def _ratio_inputs(g: torch.Generator) -> tuple[int, int, int]:
    while True:  # a ratio that is not a whole number, so that `//` and `/` differ
        h, w = (int(v) for v in torch.randint(8, 65, (2,), generator=g))
        k = int(torch.randint(1, 100, (1,), generator=g))
        if (h * w) % (4 * k):
            return h, w, k


@register("compression_ratio", compression_ratio_solution, RATIO_MISTAKES)
def check_compression_ratio(fn) -> Feedback:
    """Check a student's compression_ratio(height, width, k) -> float."""
    return check("compression_ratio", fn, compression_ratio_solution, _ratio_inputs,
                 RATIO_MISTAKES)  # fmt: skip


# ------------------------------------------------------------ 2. the PCA reconstruction


def pca_reconstruct_solution(x: torch.Tensor, k: int) -> torch.Tensor:
    """Project the rows of x (N, D) onto their top-k principal directions and map back."""
    mean = x.mean(dim=0)  # (D,)
    x_c = x - mean  # centre: PCA describes the spread around the mean
    _, _, vh = torch.linalg.svd(x_c, full_matrices=False)  # rows of vh: directions, largest first
    v_k = vh[:k].T  # (D, k)
    z = x_c @ v_k  # (N, D) -> (N, k): the code
    return z @ v_k.T + mean  # (N, k) -> (N, D): the reconstruction x_hat


def _pca_top_rows_as_columns(x, k):
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    v_k = vh[:, :k]  # columns of V^T instead of rows
    return (x - mean) @ v_k @ v_k.T + mean


def _pca_no_centering(x, k):
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    v_k = vh[:k].T
    return x @ v_k @ v_k.T


def _pca_mean_not_added(x, k):
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    v_k = vh[:k].T
    return (x - mean) @ v_k @ v_k.T


def _pca_smallest(x, k):
    mean = x.mean(dim=0)
    _, v = torch.linalg.eigh((x - mean).T @ (x - mean))  # eigenvalues in ascending order
    v_k = v[:, :k]
    return (x - mean) @ v_k @ v_k.T + mean


def _pca_code_only(x, k):
    mean = x.mean(dim=0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return (x - mean) @ vh[:k].T


PCA_MISTAKES = (
    Mistake("subtract the mean before the SVD (and add it back after): PCA's directions describe "
            "the spread around the mean, not around zero.", _pca_no_centering),
    Mistake("add the mean back at the end: x_hat = z V_k^T + mean; without it the "
            "reconstruction is centred around zero instead of around the data.",
            _pca_mean_not_added),
    Mistake("the principal directions are the first k ROWS of Vh (vh[:k]), that is the first "
            "k columns of V; vh[:, :k] takes columns of V^T.", _pca_top_rows_as_columns),
    Mistake("these are the k directions with the SMALLEST variance: torch.linalg.eigh sorts "
            "eigenvalues in ascending order, so take the last k eigenvectors (v[:, -k:]).",
            _pca_smallest),
    Mistake("return the reconstruction x_hat (N, D) = z V_k^T + mean, not the code z (N, k).",
            _pca_code_only),
)  # fmt: skip


def _pca_inputs(g: torch.Generator) -> tuple[torch.Tensor, int]:
    n, d = 60, 8
    scales = torch.linspace(3.0, 0.3, d, dtype=torch.float64)  # distinct variances
    basis, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * scales @ basis.T
    x = x + 2.0 + torch.rand(d, generator=g, dtype=torch.float64)  # a mean far from zero
    k = int(torch.randint(1, d - 1, (1,), generator=g))
    return x, k


@register("pca_reconstruct", pca_reconstruct_solution, PCA_MISTAKES)
def check_pca_reconstruct(fn) -> Feedback:
    """Check a student's pca_reconstruct(x, k) -> x_hat against the SVD projection."""
    return check("pca_reconstruct", fn, pca_reconstruct_solution, _pca_inputs, PCA_MISTAKES,
                 atol=1e-4)  # fmt: skip
