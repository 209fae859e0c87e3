"""The speed work in aelib.train keeps its results, and the benchmarks count what they claim."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import aelib
from aelib import train as T
from aelib import zoo

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:  # as when run as a script: its folder comes first
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_epoch_mean_weights_a_smaller_last_batch():
    x = torch.arange(10, dtype=torch.float32).reshape(10, 1) / 10  # batches of 4, 4 and 2
    model = torch.nn.Linear(1, 1)

    def loss_fn(m, xb):  # the batch mean of the data, plus a trainable term
        return xb.mean() + 0.0 * m.weight.sum()

    h = aelib.fit(model, x, loss_fn, num_epochs=2, batch_size=4, lr=0.0, progress=False)
    assert h.loss == pytest.approx([x.mean().item()] * 2, abs=1e-7)


def test_frozen_restores_requires_grad_even_after_an_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    net[1].bias.requires_grad_(False)
    with pytest.raises(KeyboardInterrupt), T.frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
        raise KeyboardInterrupt
    assert [p.requires_grad for p in net.parameters()] == [True, True, True, False]


def test_fit_gan_updates_both_networks_and_leaves_them_trainable():
    gan = zoo.build("gan")
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    x = torch.rand(64, 1, 28, 28)
    aelib.fit_gan(gan, x, num_epochs=1, batch_size=32, progress=False)
    assert all(p.requires_grad for p in gan.parameters())
    for part in ("generator.linear3.weight", "discriminator.linear1.weight"):
        assert not torch.equal(before[part], gan.state_dict()[part])


def test_the_logged_matmuls_match_the_layer_shape_count():
    bench = _load("train_speed")
    x = torch.rand(40, 1, 28, 28)
    calls = bench.matmuls_of_one_step("ae", x, 40)
    assert bench.flops(calls) == bench.analytic_flops_ae(zoo.build("ae"), 40)
    # forward 6 layers, backward 6 weight grads + 5 input grads (not the data's)
    assert len(calls) == 17


def test_notebook_suite_lists_the_makefile_notebooks():
    suite = _load("notebook_suite")
    names = [nb.name for nb in suite.notebooks([])]
    assert names == sorted(names) and all(n[:2].isdigit() for n in names)
    assert all(nb.name.startswith("02") for nb in suite.notebooks(["02"]))


@pytest.mark.parametrize("name", ["ae", "gan"])
def test_the_overhead_run_takes_an_epochs_steps_on_one_image_each(name, monkeypatch):
    bench = _load("train_speed")
    sizes = []  # the batch size of every call of the model's first trained network
    original = zoo.build

    def build(n):
        model = original(n)
        net = model.discriminator if n == "gan" else model
        net.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
        return model

    monkeypatch.setattr(bench.zoo, "build", build)
    bench.run_overhead(name, torch.rand(300, 1, 28, 28))  # an epoch of 300 has 3 batches
    # the AE runs once per step; the GAN's D sees real, fake, and fake again for G's loss
    assert sizes == [1] * 3 * (3 if name == "gan" else 1)


def test_results_are_saved_whole_with_machine_and_command(tmp_path, monkeypatch):
    results = _load("_results")
    monkeypatch.setattr(results, "OUT", tmp_path)
    monkeypatch.setattr(results, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--repeats", "1"])
    path = results.save("x", {"value": 1.5})
    record = json.loads(path.read_text())
    assert record["benchmark"] == "x" and record["value"] == 1.5
    assert record["command"] == "python benchmarks/x.py --repeats 1" and "CPUs" in record["machine"]
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left
