"""Notebook 03's exercises agree with aelib and with torch, and explain the usual errors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aelib import exercises
from aelib.exercises import nb03
from aelib.exercises._core import CORRECT, WRONG
from aelib.losses import contractive_penalty, corrupt


def test_contractive_reference_matches_aelib_and_autograd_jacobian():
    encoder, x = nb03._contractive_inputs(torch.Generator().manual_seed(0))
    ours = nb03.contractive_penalty_solution(encoder, x)
    assert torch.allclose(ours, contractive_penalty(encoder, x), rtol=1e-5)
    per_image = [torch.autograd.functional.jacobian(encoder, xi.unsqueeze(0)).square().sum()
                 for xi in x]  # fmt: skip
    assert torch.allclose(ours, torch.stack(per_image).mean(), rtol=1e-4)


def test_denoising_reference_is_the_loss_on_aelib_corrupt():
    model, x, _ = nb03._denoising_inputs(torch.Generator().manual_seed(1))
    e = 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    x_tilde = corrupt(x, "gaussian", 0.3, generator=torch.Generator().manual_seed(2))
    expected = F.mse_loss(model(x_tilde), x)
    assert torch.allclose(nb03.denoising_loss_solution(model, x, e), expected)


def test_a_jacobian_based_answer_is_accepted():
    def student(encoder, x):
        jac = torch.autograd.functional.jacobian(encoder, x, create_graph=True)  # (B,k,B,...)
        return jac.square().sum() / x.shape[0]  # cross-image entries are zero

    assert exercises.check_contractive_penalty(student).status == CORRECT


def test_the_usual_autograd_errors_get_a_hint():
    def no_requires_grad(encoder, x):
        z = encoder(x)
        return sum(torch.autograd.grad(z[:, j].sum(), x, create_graph=True)[0].square().sum()
                   for j in range(z.shape[1])) / len(x)  # fmt: skip

    def no_create_graph(encoder, x):
        x = x.detach().requires_grad_(True)
        z = encoder(x)
        return sum(torch.autograd.grad(z[:, j].sum(), x)[0].square().sum()
                   for j in range(z.shape[1])) / len(x)  # fmt: skip

    feedback = exercises.check_contractive_penalty(no_requires_grad)
    assert feedback.status == WRONG and "requires_grad_(True)" in feedback.message
    feedback = exercises.check_contractive_penalty(no_create_graph)
    assert feedback.status == WRONG and "create_graph=True" in feedback.message


def test_worked_solutions_print(capsys):
    exercises.solution("denoising_loss")
    exercises.solution("contractive_penalty")
    out = capsys.readouterr().out
    assert "F.mse_loss(x_hat, x)" in out and "create_graph=True" in out
