"""aelib.setup, the notebooks' setup cell: seeds, denormal flushing, the device."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import aelib

DENORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


@pytest.fixture
def restore_flush():
    yield
    torch.set_flush_denormal(False)  # the CPU default, which the other tests assume


def test_setup_seeds_torch_and_numpy_alike(restore_flush):
    aelib.setup(seed=3, plots=False)
    first = torch.rand(4), np.random.rand(2)
    aelib.setup(seed=3, plots=False)
    assert torch.equal(first[0], torch.rand(4))
    assert np.array_equal(first[1], np.random.rand(2))


def test_setup_flushes_denormals_unless_asked_not_to(restore_flush):
    aelib.setup(seed=0, plots=False, flush_denormal=False)
    assert (torch.tensor([DENORMAL]) * 2).item() > 0
    aelib.setup(seed=0, plots=False)
    assert (torch.tensor([DENORMAL]) * 2).item() == 0  # the main thread


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (the denormal mode is per thread, set at start)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# x * 2 on 2**20 elements runs on every OpenMP thread: count the denormals that survive it
SURVIVORS = "x = torch.full((1 << 20,), 1e-39); print(int((x * 2 != 0).sum()))"


def test_setup_run_first_reaches_every_worker_thread():
    out = run_python(f"import torch, aelib; aelib.setup(seed=0, plots=False); {SURVIVORS}")
    assert out == "0"


TRAIN = """
import hashlib, torch, aelib
from torch.optim.optimizer import register_optimizer_step_post_hook
from aelib import zoo
aelib.setup(seed=0, plots=False, flush_denormal=FLUSH)
x = torch.rand(256, 1, 28, 28)
x[:, :, :4] = 0  # black rows: their weights get exactly zero gradients
optimizers = []
register_optimizer_step_post_hook(lambda opt, *_: optimizers.append(opt))
model = zoo.build("ae")
aelib.fit(model, x, zoo.ae_loss, num_epochs=60, batch_size=16, progress=False)
tiny = torch.finfo(torch.float32).tiny
means = [s["exp_avg"] for s in optimizers[-1].state.values()]
weights = b"".join(v.numpy().tobytes() for v in model.state_dict().values())
print(sum(int(((m != 0) & (m.abs() < tiny)).sum()) for m in means),
      hashlib.sha256(weights).hexdigest())
"""


def test_flushing_denormals_leaves_training_bit_for_bit_the_same():
    n_kept, w_kept = run_python(TRAIN.replace("FLUSH", "False")).split()
    n_flushed, w_flushed = run_python(TRAIN.replace("FLUSH", "True")).split()
    assert int(n_kept) > 0, "without the flush, Adam's running means go denormal"
    assert int(n_flushed) == 0
    assert w_kept == w_flushed


def test_device_can_be_forced_by_environment(monkeypatch):
    monkeypatch.setenv("AELIB_DEVICE", "cpu")
    assert aelib.get_device() == torch.device("cpu")
