"""Exercises of 07_gan_contrast: the discriminator's loss and the generator's loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Feedback, Mistake, check, register

bce = F.binary_cross_entropy_with_logits

# ------------------------------------------------------------ 1. the discriminator


def d_loss_solution(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], each averaged over its batch: real -> 1, fake -> 0."""
    real_term = bce(real_logits, torch.ones_like(real_logits))  # -log D(x)
    fake_term = bce(fake_logits, torch.zeros_like(fake_logits))  # -log(1 - D(G(z)))
    return real_term + fake_term


def _ones(t: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(t)


def _zeros(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t)


D_MISTAKES = (
    Mistake("the labels are swapped: real images are labelled 1 and fakes 0 (the discriminator "
            "wants D(x) close to 1 and D(G(z)) close to 0).",
            lambda r, f: bce(r, _zeros(r)) + bce(f, _ones(f))),
    Mistake("the fake images must be labelled 0, not 1: labelling them 1 is the generator's "
            "wish, not the discriminator's.",
            lambda r, f: bce(r, _ones(r)) + bce(f, _ones(f))),
    Mistake("the discriminator returns logits and binary_cross_entropy_with_logits applies the "
            "sigmoid itself: do not apply torch.sigmoid first (or use F.binary_cross_entropy "
            "on probabilities).",
            lambda r, f: bce(torch.sigmoid(r), _ones(r)) + bce(torch.sigmoid(f), _zeros(f))),
    Mistake("average over the batch (reduction='mean', the default), not the sum: the loss "
            "should not grow with the batch size.",
            lambda r, f: bce(r, _ones(r), reduction="sum") + bce(f, _zeros(f), reduction="sum")),
    Mistake("the sign is flipped: you returned log D(x) + log(1 - D(G(z))), which D maximizes; "
            "the loss to minimize is its negative, i.e. the BCE itself.",
            lambda r, f: -(bce(r, _ones(r)) + bce(f, _zeros(f)))),
    Mistake("only the real term: the discriminator must also learn to reject fakes, so add "
            "BCE(D(G(z)), 0).",
            lambda r, f: bce(r, _ones(r))),
    Mistake("only the fake term: the discriminator must also accept real images, so add "
            "BCE(D(x), 1).",
            lambda r, f: bce(f, _zeros(f))),
    Mistake("add the two terms; halving them (their mean) is a common convention but not the "
            "minimax objective written in the text.",
            lambda r, f: (bce(r, _ones(r)) + bce(f, _zeros(f))) / 2),
)  # fmt: skip


def _logit_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    real_logits = torch.randn(16, generator=g) * 2 + 1
    fake_logits = torch.randn(16, generator=g) * 2 - 1
    return real_logits.requires_grad_(True), fake_logits.requires_grad_(True)


@register("d_loss", d_loss_solution, D_MISTAKES, trainable=True)
def check_d_loss(fn) -> Feedback:
    """Check a student's d_loss(real_logits, fake_logits) -> scalar against the reference."""
    return check("d_loss", fn, d_loss_solution, _logit_inputs, D_MISTAKES, gradients=True)


# ------------------------------------------------------------ 2. the generator


def g_loss_solution(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)): BCE of the fakes' logits against label 1."""
    return bce(fake_logits, torch.ones_like(fake_logits))


G_MISTAKES = (
    Mistake("the generator wants D(G(z)) close to 1: compare its fakes with label 1, not 0 "
            "(label 0 trains it to look fake).",
            lambda f: bce(f, _zeros(f))),
    Mistake("that is the saturating form log(1 - D(G(z))) of the minimax objective: it is "
            "flat when D rejects the fakes confidently, early in training. Use the "
            "non-saturating -log D(G(z)) = BCE(D(G(z)), 1).",
            lambda f: -bce(f, _zeros(f))),
    Mistake("the discriminator returns logits and binary_cross_entropy_with_logits applies the "
            "sigmoid itself: do not apply torch.sigmoid first.",
            lambda f: bce(torch.sigmoid(f), _ones(f))),
    Mistake("average over the batch (reduction='mean', the default), not the sum.",
            lambda f: bce(f, _ones(f), reduction="sum")),
    Mistake("the sign is flipped: minimize -log D(G(z)), i.e. the BCE against label 1 itself.",
            lambda f: -bce(f, _ones(f))),
)  # fmt: skip


def _fake_inputs(g: torch.Generator) -> tuple[torch.Tensor]:
    return ((torch.randn(16, generator=g) * 2 - 1).requires_grad_(True),)


@register("g_loss", g_loss_solution, G_MISTAKES, trainable=True)
def check_g_loss(fn) -> Feedback:
    """Check a student's g_loss(fake_logits) -> scalar against the reference."""
    return check("g_loss", fn, g_loss_solution, _fake_inputs, G_MISTAKES, gradients=True)
