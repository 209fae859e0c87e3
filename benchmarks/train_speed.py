"""Training speed: one epoch of the AE, the VAE and the GAN, aelib against the conventional loop.

The conventional loop is what most tutorials write: a torchvision dataset with
``transforms.ToTensor()`` (one PIL image per sample) and ``DataLoader(batch_size=128,
shuffle=True)``, plain ``torch.optim.Adam``, ``loss.item()`` for the running loss. aelib
trains on slices of the in-memory tensor (``aelib.fit`` / ``aelib.fit_gan``). Both train
the same model from the same initial weights with the same loss, batch size and Adam
settings; for the GAN both do the same two-step update (discriminator, then generator).

The compute bound: the matrix multiplications of one epoch, forward and backward, are
logged from one real training step (their exact shapes and memory layouts) and replayed
alone, back to back. That is the time this machine needs for the arithmetic of an epoch
with nothing else (no activations, no loss, no optimizer, no Python): a lower bound for
any trainer. Each trainer's time is reported as a multiple of it.

The per-step overhead: the same number of aelib steps as an epoch has, on batches of one
image. The arithmetic then almost vanishes and what is left is the fixed cost of a step
(Python, PyTorch's dispatch of each operation, autograd, the optimizer over all weights).
Bound + overhead is about the fastest an eager PyTorch loop of these layers can be.

Runs are interleaved (conventional, aelib, bound, overhead; the order alternating) and medians
compared, since a single time on a shared machine means little. Results: a table, and
build/bench/train_speed.json.

    python benchmarks/train_speed.py [--repeats 3] [--models ae,vae,gan] [--quality-epochs 10]
                                     [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from _results import save
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

import aelib
from aelib import zoo

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
ADAM = {"ae": {"lr": 1e-3}, "vae": {"lr": 1e-3}, "gan": {"lr": 2e-4, "betas": (0.5, 0.999)}}
LABELS = {"ae": "lecture AE", "vae": "VAE", "gan": "GAN"}


# ----------------------------------------------------------------------- conventional loops


def conventional_loader(root: Path):
    """The tutorial pipeline: PIL images, ToTensor per sample, a shuffling DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    train = datasets.FashionMNIST(root, train=True, transform=transforms.ToTensor())
    return DataLoader(train, batch_size=BATCH, shuffle=True)


def conventional_fit(model: nn.Module, loader, loss_fn: Callable, lr: float) -> float:
    """One epoch of the standard loop; returns the mean loss like aelib's history."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    total = 0.0
    for x, _ in loader:
        out = loss_fn(model, x)
        loss = out[0] if isinstance(out, tuple) else out
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(x)
    return total / len(loader.dataset)


def conventional_fit_gan(gan: nn.Module, loader, lr: float, betas: tuple[float, float]) -> float:
    """One epoch of the standard GAN loop: a discriminator step, then a generator step."""
    gen, disc = gan.generator, gan.discriminator
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    criterion = nn.BCEWithLogitsLoss()
    gan.train()
    total = 0.0
    for x, _ in loader:
        b = len(x)
        real_label, fake_label = torch.ones(b), torch.zeros(b)
        fake = gen(torch.randn(b, gen.latent_dims))
        d_loss = criterion(disc(x), real_label) + criterion(disc(fake.detach()), fake_label)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = criterion(disc(fake), real_label)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        total += g_loss.item() * b
    return total / len(loader.dataset)


def run_conventional(name: str, loader) -> float:
    model = zoo.build(name)
    start = time.perf_counter()
    if name == "gan":
        conventional_fit_gan(model, loader, **ADAM[name])
    else:
        conventional_fit(model, loader, zoo.RECIPES[name]["loss_fn"], **ADAM[name])
    return time.perf_counter() - start


def run_aelib(name: str, x: Tensor) -> float:
    model = zoo.build(name)
    start = time.perf_counter()
    aelib_fit(name, model, x)
    return time.perf_counter() - start


def run_overhead(name: str, x: Tensor) -> float:
    """As many aelib steps as one epoch has, each on a batch of one image."""
    model = zoo.build(name)
    steps = x[: math.ceil(len(x) / BATCH)]  # one image per step of a real epoch
    start = time.perf_counter()
    aelib_fit(name, model, steps, batch=1)
    return time.perf_counter() - start


def aelib_fit(name: str, model: nn.Module, x: Tensor, batch: int = BATCH) -> aelib.train.History:
    if name == "gan":
        return aelib.fit_gan(model, x, num_epochs=1, batch_size=batch, progress=False,
                             **ADAM[name])  # fmt: skip
    return aelib.fit(model, x, zoo.RECIPES[name]["loss_fn"], num_epochs=1, batch_size=batch,
                     progress=False, **ADAM[name])  # fmt: skip


# ------------------------------------------------------------------------ the compute bound

MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default}


class MatmulLog(TorchDispatchMode):
    """Records every matrix multiplication that runs (forward and backward) with its layout."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            self.calls.append((func, [(tuple(a.shape), a.stride()) for a in args[-2:]]))
        return func(*args, **(kwargs or {}))


def matmuls_of_one_step(name: str, x: Tensor, batch: int) -> list[tuple]:
    """(op, [(shape, stride) of both factors]) of each matmul in one step on ``batch`` images."""
    with MatmulLog() as log:
        aelib_fit(name, zoo.build(name), x[:batch])
    return log.calls


def flops(calls: list[tuple]) -> int:
    """2 * m * k * n per (m, k) @ (k, n) product."""
    return sum(2 * a[0] * a[1] * b[1] for _, ((a, _), (b, _)) in calls)


def analytic_flops_ae(model: nn.Module, n: int) -> int:
    """Forward 2*n*in*out per layer; backward twice that, except the first layer's input grad."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    macs = sum(m.in_features * m.out_features for m in layers)
    first = layers[0].in_features * layers[0].out_features
    return 2 * n * (3 * macs - first)


class Replay:
    """The matmuls of one epoch, replayed on random factors with the logged shapes and strides."""

    def __init__(self, full: list[tuple], last: list[tuple], n_full: int) -> None:
        self.n_full = n_full
        self.full, self.last = self._operands(full), self._operands(last)

    @staticmethod
    def _operands(calls: list[tuple]) -> list[tuple[Tensor, Tensor, Tensor]]:
        out = []
        for _, factors in calls:
            a, b = (torch.empty_strided(s, st).normal_() for s, st in factors)
            out.append((a, b, torch.empty(a.shape[0], b.shape[1])))
        return out

    def __call__(self) -> float:
        start = time.perf_counter()
        for _ in range(self.n_full):
            for a, b, c in self.full:
                torch.mm(a, b, out=c)
        for a, b, c in self.last:
            torch.mm(a, b, out=c)
        return time.perf_counter() - start


# ------------------------------------------------------------------------------------ main


def quality(x: Tensor, x_test: Tensor, epochs: int) -> float:
    """Test MSE per pixel of the lecture AE after ``epochs`` epochs of aelib.fit."""
    model = zoo.build("ae")
    aelib.fit(model, x, zoo.ae_loss, num_epochs=epochs, batch_size=BATCH, progress=False)
    with torch.no_grad():
        return float(F.mse_loss(model(x_test), x_test))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="ae,vae,gan")
    ap.add_argument("--quality-epochs", type=int, default=10, help="0 skips the quality check")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(",") if n.strip()]

    aelib.setup(seed=0, plots=False)
    ds = aelib.load_dataset("fashion-mnist")
    if ds.name != "fashion-mnist":
        sys.exit("This benchmark needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
    x, n = ds.x_train, len(ds.x_train)
    loader = conventional_loader(aelib.data.data_dir())
    n_full, rest = divmod(n, BATCH)
    load_before = os.getloadavg()[0]

    replays, epoch_flops = {}, {}
    for name in names:
        full = matmuls_of_one_step(name, x, BATCH)
        last = matmuls_of_one_step(name, x, rest) if rest else []
        epoch_flops[name] = n_full * flops(full) + flops(last)
        replays[name] = Replay(full, last, n_full)
    if "ae" in names:  # the logged count agrees with the count from the layer shapes
        assert epoch_flops["ae"] == analytic_flops_ae(zoo.build("ae"), n), epoch_flops["ae"]

    for name in names:  # warm-up, untimed: first-touch allocations, thread pools
        run_aelib(name, x[:2048])
        replays[name]()
    times: dict[str, dict[str, list[float]]] = {
        m: {"conventional": [], "aelib": [], "bound": [], "overhead": []} for m in names}
    for r in range(args.repeats):  # interleaved: drift on the machine hits all alike
        for name in names:
            runs = [("conventional", partial(run_conventional, name, loader)),
                    ("aelib", partial(run_aelib, name, x)), ("bound", replays[name]),
                    ("overhead", partial(run_overhead, name, x))]  # fmt: skip
            for label, fn in runs if r % 2 == 0 else runs[::-1]:
                torch.manual_seed(r)
                times[name][label].append(fn())
            print(f"  repeat {r + 1}/{args.repeats} {name}: "
                  + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times[name].items()), flush=True)

    results = {}
    for name in names:
        med = {k: statistics.median(v) for k, v in times[name].items()}
        results[name] = {
            "model": LABELS[name], "parameters": aelib.models.count_parameters(zoo.build(name)),
            "runs_s": times[name], "median_s": med,
            "speedup": med["conventional"] / med["aelib"],
            "epoch_gflop": epoch_flops[name] / 1e9,
            "matmul_gflops_per_s": epoch_flops[name] / med["bound"] / 1e9,
            "aelib_over_bound": med["aelib"] / med["bound"],
            "conventional_over_bound": med["conventional"] / med["bound"],
            "bound_plus_overhead_over_bound": (med["bound"] + med["overhead"]) / med["bound"],
        }  # fmt: skip
    test_mse = quality(x, ds.x_test, args.quality_epochs) if args.quality_epochs else None

    threads = torch.get_num_threads()
    print(f"\nOne epoch over {n:,} Fashion-MNIST images, batch {BATCH}, {threads} threads, median "
          f"of {args.repeats} interleaved runs (load average {load_before:.1f} at start):")
    head = (f"{'model':<11}{'conventional':>13}{'aelib':>8}{'speed-up':>10}{'bound':>8}"
            f"{'aelib/bound':>13}{'overhead':>10}{'floor/bound':>13}{'GFLOP':>7}"
            f"{'GFLOP/s':>9}")  # fmt: skip
    print(head)
    for name, res in results.items():
        med = res["median_s"]
        print(f"{LABELS[name]:<11}{med['conventional']:>11.2f} s{med['aelib']:>6.2f} s"
              f"{res['speedup']:>9.1f}x{med['bound']:>6.2f} s{res['aelib_over_bound']:>12.1f}x"
              f"{med['overhead']:>8.2f} s{res['bound_plus_overhead_over_bound']:>12.1f}x"
              f"{res['epoch_gflop']:>7.1f}{res['matmul_gflops_per_s']:>9.0f}")  # fmt: skip
    print("bound = the epoch's matmuls alone (forward and backward, logged from a real step);\n"
          "overhead = as many aelib steps on 1-image batches; floor = bound + overhead.")
    if test_mse is not None:
        print(f"Lecture AE test MSE per pixel after {args.quality_epochs} epochs: {test_mse:.4f}")

    save("train_speed", {
        "images": n, "batch_size": BATCH, "threads": threads, "repeats": args.repeats,
        "torch": torch.__version__, "load_avg_start": load_before,
        "load_avg_end": os.getloadavg()[0], "results": results,
        "quality_epochs": args.quality_epochs, "test_mse_per_pixel": test_mse,
    })  # fmt: skip


if __name__ == "__main__":
    main()
