"""One epoch of the lecture AE: aelib.fit against the conventional torchvision loop.

The conventional loop is what most tutorials write: a torchvision dataset with
``transforms.ToTensor()`` (one PIL image per sample) and ``DataLoader(batch_size=128,
shuffle=True)``. Both train the same model with Adam(lr=1e-3) at batch 128; runs are
interleaved and the medians compared, since a single time on a shared machine means
little. Results: printed, and written to build/bench/train_speed.json.

    python benchmarks/train_speed.py [--repeats 3] [--quality-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import aelib
from aelib import models

ROOT = Path(__file__).resolve().parents[1]


def mse(model, x):
    return F.mse_loss(model(x), x)


def conventional_epoch(model: torch.nn.Module, root: Path) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    train = datasets.FashionMNIST(root, train=True, transform=transforms.ToTensor())
    loader = DataLoader(train, batch_size=128, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for x, _ in loader:
        loss = mse(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def aelib_epoch(model: torch.nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    aelib.fit(model, x, mse, num_epochs=1, batch_size=128, lr=1e-3, progress=False)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quality-epochs", type=int, default=10)
    args = ap.parse_args()

    aelib.setup(seed=0, plots=False)
    ds = aelib.load_dataset("fashion-mnist")
    if ds.name != "fashion-mnist":
        sys.exit("This benchmark needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
    root = aelib.data.data_dir()

    conventional, ours = [], []
    for _ in range(args.repeats):  # interleaved: drift on the machine hits both alike
        torch.manual_seed(0)
        conventional.append(conventional_epoch(models.Autoencoder(), root))
        torch.manual_seed(0)
        ours.append(aelib_epoch(models.Autoencoder(), ds.x_train))
    med_c, med_o = statistics.median(conventional), statistics.median(ours)

    torch.manual_seed(0)
    model = models.Autoencoder()
    aelib.fit(model, ds.x_train, mse, num_epochs=args.quality_epochs, progress=False)
    with torch.no_grad():
        test_mse = float(F.mse_loss(model(ds.x_test), ds.x_test))

    result = {
        "benchmark": "train_speed", "model": "lecture AE (168,086 parameters)",
        "images": len(ds.x_train), "batch_size": 128, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "conventional_s": conventional, "aelib_s": ours,
        "conventional_median_s": med_c, "aelib_median_s": med_o, "speedup": med_c / med_o,
        "quality_epochs": args.quality_epochs, "test_mse_per_pixel": test_mse,
    }  # fmt: skip
    print(f"One epoch of the lecture AE over {len(ds.x_train):,} images, batch 128, "
          f"{torch.get_num_threads()} threads (median of {args.repeats}):")  # fmt: skip
    print(f"  conventional (ToTensor + DataLoader): {med_c:6.2f} s")
    print(f"  aelib.fit (in-memory, fused Adam):    {med_o:6.2f} s")
    print(f"  speed-up: {med_c / med_o:.1f}x")
    print(f"Test MSE per pixel after {args.quality_epochs} epochs: {test_mse:.4f}")
    out = ROOT / "build" / "bench" / "train_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"Wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
