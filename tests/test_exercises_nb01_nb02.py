"""Exercises of notebooks 01 and 02: other correct answers pass, and mistakes that raise
(not listed as Mistakes, since the student's error is reported) still get a useful hint."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aelib import exercises, models
from aelib.exercises._core import CORRECT, WRONG


def test_compression_ratio_accepts_an_equivalent_formula():
    assert exercises.check_compression_ratio(lambda h, w, k: (h * w * 8) / (k * 32)).passed


def test_pca_via_eigh_of_the_covariance_passes():
    def pca_eigh(x, k):
        mean = x.mean(0)
        _, v = torch.linalg.eigh(torch.cov((x - mean).T))
        v_k = v[:, -k:]  # largest k, any order and sign
        return (x - mean) @ v_k @ v_k.T + mean

    assert exercises.check_pca_reconstruct(pca_eigh).passed


def test_encoder_solution_matches_the_lecture_model():
    torch.manual_seed(0)
    encoder = models.Encoder()
    x = torch.rand(5, 1, 28, 28)
    z = exercises.EXERCISES["encoder"].reference(x, encoder.state_dict())
    torch.testing.assert_close(z, encoder(x))


def test_encoder_written_with_functional_linear_passes():
    def encode(x, p):
        x = x.reshape(x.shape[0], -1)
        x = F.relu(F.linear(x, p["linear1.weight"], p["linear1.bias"]))
        x = F.relu(F.linear(x, p["linear2.weight"], p["linear2.bias"]))
        return F.linear(x, p["linear3.weight"], p["linear3.bias"])

    assert exercises.check_encoder(encode).passed


def test_encoder_flattening_the_batch_away_gets_a_shape_hint():
    def encode(x, p):
        x = torch.flatten(x)  # (B * 784,): the batch is gone
        x = torch.relu(x @ p["linear1.weight"].T + p["linear1.bias"])
        x = torch.relu(x @ p["linear2.weight"].T + p["linear2.bias"])
        return x @ p["linear3.weight"].T + p["linear3.bias"]

    feedback = exercises.check_encoder(encode)
    assert feedback.status == WRONG
    assert "start_dim=1" in feedback.message and "(B, 784)" in feedback.message


def test_encoder_without_transposed_weights_gets_a_shape_hint():
    def encode(x, p):
        x = torch.flatten(x, start_dim=1)
        x = torch.relu(x @ p["linear1.weight"] + p["linear1.bias"])
        x = torch.relu(x @ p["linear2.weight"] + p["linear2.bias"])
        return x @ p["linear3.weight"] + p["linear3.bias"]

    feedback = exercises.check_encoder(encode)
    assert feedback.status == WRONG and "x @ W.T + b" in feedback.message


def test_mse_as_in_torch_passes_and_sum_reduction_gets_the_sum_hint():
    assert exercises.check_reconstruction_mse(F.mse_loss).status == CORRECT
    feedback = exercises.check_reconstruction_mse(lambda y, x: F.mse_loss(y, x, reduction="sum"))
    assert feedback.status == WRONG and feedback.message.startswith("sum vs mean")
