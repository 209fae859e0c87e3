"""Sample quality for generative models: a feature classifier and precision/recall (06, 08),
and the sharpness proxy for blur that several notebooks use.

``precision_recall`` is the improved precision and recall of Kynkaanniemi et al. (2019),
"Improved Precision and Recall Metric for Assessing Generative Models": each set is
approximated by the union of balls around its points, each ball reaching to the point's
k-th nearest neighbour in its own set. Precision is the share of samples inside the
reference set's balls (are the samples like the data?), recall the share of reference
points inside the samples' balls (is all of the data covered?). Both are computed on the
penultimate-layer features of a small classifier trained on real images
(``feature_classifier``), not on pixels, where blur is "close" to everything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cache import train_or_load
from .data import Dataset

N_PIXELS = 28 * 28
FEATURES = 64  # d, the size of the feature vectors


class FeatureClassifier(nn.Module):
    """An MLP 784-256-64-10 with ReLU; ``features`` gives the 64 penultimate activations."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(N_PIXELS, 256), nn.ReLU(),
                                  nn.Linear(256, FEATURES), nn.ReLU())  # fmt: skip
        self.head = nn.Linear(FEATURES, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """(N, 1, 28, 28) images in [0, 1] (or (N, 784)) -> (N, 64) features."""
        return self.body(x.reshape(len(x), -1)[:, :N_PIXELS])

    def forward(self, x: Tensor) -> Tensor:
        """(N, 1, 28, 28) images -> (N, 10) logits."""
        return self.head(self.features(x))


def sharpness(images: Tensor) -> Tensor:
    """(N, 1, 28, 28) or (N, 784) images -> (N,): mean |difference| of neighbouring pixels."""
    x = images.reshape(-1, 28, 28)
    dx = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 2))  # horizontal neighbours
    dy = (x[:, 1:, :] - x[:, :-1, :]).abs().mean(dim=(1, 2))  # vertical neighbours
    return (dx + dy) / 2  # lower = blurrier; a checkerboard gives 1, a flat image 0


def _classifier_loss(model: nn.Module, xb: Tensor) -> Tensor:
    """Cross-entropy; a batch row is 784 pixels followed by the label (as a float)."""
    return F.cross_entropy(model(xb[:, :N_PIXELS]), xb[:, N_PIXELS].long())


def feature_classifier(ds: Dataset, progress: bool = False) -> nn.Module:
    """A small classifier of ds's classes trained on its training split (cached), eval mode."""
    from .runtime import get_device

    torch.manual_seed(0)
    model = FeatureClassifier(len(ds.classes)).to(get_device())
    packed = torch.cat([ds.x_train.reshape(len(ds.x_train), -1),
                        ds.y_train.float().unsqueeze(1)], dim=1)  # (N, 785)  # fmt: skip
    train_or_load("feature-classifier", model, packed, _classifier_loss, num_epochs=4,
                  batch_size=256, lr=1e-3, seed=0, progress=progress)  # fmt: skip
    return model.eval()


@torch.no_grad()
def _kth_radius(x: Tensor, k: int, chunk: int = 2048) -> Tensor:
    """(N, d) -> (N,): each point's distance to its k-th nearest other point of x."""
    return torch.cat([torch.cdist(x[i : i + chunk], x).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(x), chunk)])  # fmt: skip


@torch.no_grad()
def _inside(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    """(M,) bool: whether each point lies in at least one ball (centre, radius)."""
    return torch.cat([(torch.cdist(points[i : i + chunk], centres) <= radii).any(dim=1)
                      for i in range(0, len(points), chunk)])  # fmt: skip


def precision_recall(reference: Tensor, samples: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of (N, d) feature vectors."""
    if reference.dim() != 2 or samples.dim() != 2 or reference.shape[1] != samples.shape[1]:
        raise ValueError(f"precision_recall expects two (N, d) tensors with the same d, got "
                         f"{tuple(reference.shape)} and {tuple(samples.shape)}.")  # fmt: skip
    if not 1 <= k < min(len(reference), len(samples)):
        raise ValueError(f"precision_recall: k must be >= 1 and below both set sizes, got {k}.")
    ref, smp = reference.float().cpu(), samples.float().cpu()
    precision = _inside(smp, ref, _kth_radius(ref, k)).float().mean()
    recall = _inside(ref, smp, _kth_radius(smp, k)).float().mean()
    return float(precision), float(recall)


@torch.no_grad()
def _features(classifier: nn.Module, x: Tensor, batch: int = 4096) -> tuple[Tensor, Tensor]:
    """(N, d) features and (N, C) logits of images x, in batches, on the classifier's device."""
    device = next(classifier.parameters()).device
    feats, logits = [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device)
        feats.append(classifier.features(xb).cpu())
        logits.append(classifier(xb).cpu())
    return torch.cat(feats), torch.cat(logits)


def sample_quality(classifier: nn.Module, reference_x: Tensor, samples_x: Tensor,
                   k: int = 3) -> dict:  # fmt: skip
    """Precision, recall (on classifier features) and the samples' predicted-class shares."""
    ref, _ = _features(classifier, reference_x)
    smp, logits = _features(classifier, samples_x)
    precision, recall = precision_recall(ref, smp, k)
    hist = torch.bincount(logits.argmax(dim=1), minlength=logits.shape[1]).float() / len(smp)
    return {"precision": precision, "recall": recall, "class_histogram": hist.tolist()}
