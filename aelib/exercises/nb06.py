"""Exercises of 06_latent_space_gaps: measure a latent gap, and a classifier's confidence."""

from __future__ import annotations

import torch

from ._core import Feedback, Mistake, check, register

# ------------------------------------------------------------ 1. distance to the data


def nearest_distance_solution(images: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """Euclidean distance (in pixel space) from each image to its nearest training image."""
    a = images.flatten(1)  # (B, 1, 28, 28) -> (B, 784)
    b = train.flatten(1)  # (N, 1, 28, 28) -> (N, 784)
    return torch.cdist(a, b).min(dim=1).values  # (B, N) -> (B,)


NEAREST_MISTAKES = (
    Mistake("you took the mean distance to all training images; the gap is measured to the "
            "*nearest* one: use .min(dim=1).values.",
            lambda x, t: torch.cdist(x.flatten(1), t.flatten(1)).mean(dim=1)),
    Mistake("you returned the squared distance; take the Euclidean distance itself "
            "(torch.cdist already gives it, no ** 2).",
            lambda x, t: (torch.cdist(x.flatten(1), t.flatten(1)) ** 2).min(dim=1).values),
    Mistake("you returned the index of the nearest training image (argmin); return its "
            "distance: .min(dim=1).values.",
            lambda x, t: torch.cdist(x.flatten(1), t.flatten(1)).argmin(dim=1)),
    Mistake("take the minimum over the training images (dim=1), one value per decoded image; "
            "you took it over the decoded images (dim=0).",
            lambda x, t: torch.cdist(x.flatten(1), t.flatten(1)).min(dim=0).values),
    Mistake("return one distance per image (shape (B,)), not the single smallest distance of "
            "the whole batch: .min(dim=1).values.",
            lambda x, t: torch.cdist(x.flatten(1), t.flatten(1)).min()),
    Mistake("the images were flattened the wrong way: x.reshape(784, -1).T mixes pixels of "
            "different images. Flatten each image into one row: x.flatten(1), shape (B, 784).",
            lambda x, t: torch.cdist(x.reshape(784, -1).T, t.reshape(784, -1).T)
            .min(dim=1).values),
)  # fmt: skip


def _nearest_inputs(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(5, 1, 28, 28, generator=g)
    train = torch.rand(40, 1, 28, 28, generator=g)
    return images, train


@register("nearest_distance", nearest_distance_solution, NEAREST_MISTAKES)
def check_nearest_distance(fn) -> Feedback:
    """Check a student's nearest_distance(images, train) -> (B,) against the reference."""
    return check("nearest_distance", fn, nearest_distance_solution, _nearest_inputs,
                 NEAREST_MISTAKES)  # fmt: skip


# ------------------------------------------------------------ 2. classifier confidence


def confidence_solution(logits: torch.Tensor) -> torch.Tensor:
    """The classifier's confidence per image: the largest softmax probability over classes."""
    return torch.softmax(logits, dim=1).max(dim=1).values  # (B, 10) -> (B,)


CONFIDENCE_MISTAKES = (
    Mistake("the softmax goes over the classes (dim=1), so each image's probabilities sum to "
            "1; you normalised over the batch (dim=0).",
            lambda lg: torch.softmax(lg, dim=0).max(dim=1).values),
    Mistake("you returned the largest logit; turn the logits into probabilities with "
            "torch.softmax(logits, dim=1) first.",
            lambda lg: lg.max(dim=1).values),
    Mistake("you returned the predicted class (argmax); the confidence is the probability of "
            "that class: .max(dim=1).values.",
            lambda lg: torch.softmax(lg, dim=1).argmax(dim=1)),
    Mistake("a sigmoid treats each class on its own; for one label out of ten use the softmax "
            "over dim=1.",
            lambda lg: torch.sigmoid(lg).max(dim=1).values),
    Mistake("you averaged the probabilities over the classes (always 1/10); take the largest.",
            lambda lg: torch.softmax(lg, dim=1).mean(dim=1)),
)  # fmt: skip


def _confidence_inputs(g: torch.Generator) -> tuple[torch.Tensor]:
    return (torch.randn(6, 10, generator=g) * 3,)


@register("confidence", confidence_solution, CONFIDENCE_MISTAKES)
def check_confidence(fn) -> Feedback:
    """Check a student's confidence(logits) -> (B,) against the reference."""
    return check("confidence", fn, confidence_solution, _confidence_inputs, CONFIDENCE_MISTAKES)
