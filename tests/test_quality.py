"""aelib.quality: improved precision/recall on synthetic features, the classifier on tiny data."""

from __future__ import annotations

import pytest
import torch

from aelib import quality
from aelib.data import Dataset


def gaussian(n: int, d: int = 8, shift: float = 0.0, scale: float = 1.0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen) * scale + shift


def test_same_distribution_scores_near_one():
    p, r = quality.precision_recall(gaussian(1000, seed=0), gaussian(1000, seed=1))
    assert p > 0.8 and r > 0.8


def test_identical_sets_score_one():
    x = gaussian(500)
    assert quality.precision_recall(x, x.clone()) == (1.0, 1.0)


def test_disjoint_sets_score_zero():
    p, r = quality.precision_recall(gaussian(500, seed=0), gaussian(500, shift=50.0, seed=1))
    assert p == 0.0 and r == 0.0


def test_collapsed_samples_high_precision_low_recall():
    reference = gaussian(1000, seed=0)
    collapsed = gaussian(1000, scale=0.05, seed=1)  # every sample near the mode
    p, r = quality.precision_recall(reference, collapsed)
    assert p > 0.9 and r < 0.2


def test_copies_of_one_point_recall_zero():
    reference = gaussian(300)
    p, r = quality.precision_recall(reference, reference[:1].repeat(300, 1))
    assert p == 1.0 and r < 0.02


def test_shape_and_k_errors():
    with pytest.raises(ValueError, match="same d"):
        quality.precision_recall(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(ValueError, match="k must be"):
        quality.precision_recall(torch.zeros(10, 3), torch.zeros(3, 3), k=3)


def tiny_dataset() -> Dataset:
    # two classes of 28x28 images: bright left half vs bright right half, with noise
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.rand(200, 1, 28, 28, generator=gen) * 0.2
    x[y == 0, :, :, :14] += 0.7
    x[y == 1, :, :, 14:] += 0.7
    return Dataset("tiny", x[:160], y[:160], x[160:], y[160:], ["left", "right"], "test")


def test_feature_classifier_and_sample_quality(tmp_path, monkeypatch):
    monkeypatch.setenv("AELIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AELIB_DEVICE", "cpu")
    ds = tiny_dataset()
    clf = quality.feature_classifier(ds)
    assert not clf.training
    assert clf.features(ds.x_test).shape == (40, quality.FEATURES)
    logits = clf(ds.x_test)
    assert logits.shape == (40, 2)
    assert (logits.argmax(1) == ds.y_test).float().mean() > 0.9
    assert list(tmp_path.glob("feature-classifier-*.pt"))  # through the train-or-load cache
    q = quality.sample_quality(clf, ds.x_test, ds.x_train[:40])
    assert set(q) == {"precision", "recall", "class_histogram"}
    assert q["precision"] > 0.3 and q["recall"] > 0.3  # real vs real (40 points, 64-d)
    assert len(q["class_histogram"]) == 2 and sum(q["class_histogram"]) == pytest.approx(1.0)
    assert min(q["class_histogram"]) > 0.3  # both classes among real images
    mean = ds.x_train.mean(0, keepdim=True).repeat(40, 1, 1, 1)  # one image, 40 times
    assert quality.sample_quality(clf, ds.x_test, mean)["recall"] < 0.1


def test_sharpness_is_zero_for_flat_images_and_one_for_a_checkerboard():
    flat = torch.full((2, 1, 28, 28), 0.4)
    checker = ((torch.arange(28)[:, None] + torch.arange(28)) % 2).float().reshape(1, 1, 28, 28)
    assert quality.sharpness(flat).tolist() == [0.0, 0.0]
    assert quality.sharpness(checker).tolist() == [1.0]
    assert quality.sharpness(checker.reshape(1, 784)).tolist() == [1.0]  # flat rows too


def test_sharpness_falls_when_images_are_blurred():
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert (quality.sharpness(blurred) < quality.sharpness(x)).all()
