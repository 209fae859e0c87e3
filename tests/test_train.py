"""aelib.train: learning, determinism, interruption, non-finite losses, GAN logging, progress."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import aelib
from aelib import models as M
from aelib import train as T


def mse(model, x):
    return F.mse_loss(model(x), x)


def toy_data(n: int = 256, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # two blobs of images: learnable structure for a 2-D code
    base = torch.rand(2, 1, 28, 28, generator=g)
    pick = torch.randint(0, 2, (n,), generator=g)
    return (base[pick] + 0.05 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)


def new_ae(seed: int = 0) -> M.Autoencoder:
    torch.manual_seed(seed)
    return M.Autoencoder()


def test_fit_reduces_the_loss_and_leaves_eval_mode():
    model = new_ae()
    history = aelib.fit(model, toy_data(), mse, num_epochs=5, batch_size=32, progress=False)
    assert len(history.loss) == 5 and history.loss[-1] < history.loss[0]
    assert not model.training and not history.interrupted and history.seconds > 0


def test_fit_is_deterministic_on_cpu():
    x = toy_data()
    a, b = new_ae(), new_ae()
    ha = aelib.fit(a, x, mse, num_epochs=2, batch_size=32, seed=7, progress=False)
    hb = aelib.fit(b, x, mse, num_epochs=2, batch_size=32, seed=7, progress=False)
    assert ha.loss == hb.loss
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_extra_terms_are_logged_per_epoch():
    model = M.VarAutoencoder()

    def loss_fn(m, x):
        x_hat, mu, sigma = m(x)
        loss, recon, kl = aelib.losses.vae_loss(x_hat, x, mu, sigma)
        return loss, {"recon": recon, "kl": kl}

    h = aelib.fit(model, toy_data(64), loss_fn, num_epochs=2, batch_size=16, progress=False)
    assert set(h.terms) == {"recon", "kl"} and len(h.terms["kl"]) == 2
    assert h.loss[0] == pytest.approx(h.terms["recon"][0] + h.terms["kl"][0], rel=1e-5)


def test_interrupt_keeps_the_model_and_history(capsys):  # fault: Ctrl-C
    model = new_ae()
    before = model.decoder.linear3.bias.detach().clone()
    calls = {"n": 0}

    def loss_fn(m, x):
        calls["n"] += 1
        if calls["n"] == 12:  # the student presses stop in epoch 2 (8 batches per epoch)
            raise KeyboardInterrupt
        return mse(m, x)

    h = aelib.fit(model, toy_data(), loss_fn, num_epochs=5, batch_size=32, progress=False)
    assert h.interrupted and len(h.loss) == 1
    assert not torch.equal(before, model.decoder.linear3.bias)  # learned weights are kept
    assert "interrupted after 1 complete epoch" in capsys.readouterr().out


def test_fit_gan_logs_discriminator_probabilities():
    torch.manual_seed(0)
    gan = M.GAN()
    h = aelib.fit_gan(gan, toy_data(128), num_epochs=2, batch_size=32, progress=False)
    assert set(h.terms) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(0.0 < p < 1.0 for p in h.terms["d_real"] + h.terms["d_fake"])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: aelib.fit(new_ae(), torch.empty(0, 1, 28, 28), mse), ValueError,
         "non-empty batch"),
        (lambda: aelib.fit(new_ae(), toy_data(8), mse, num_epochs=0), ValueError,
         "num_epochs must be >= 1, got 0"),
        (lambda: aelib.fit(new_ae(), toy_data(8), mse, batch_size=2.5), TypeError,
         "batch_size must be an int"),
        (lambda: aelib.fit(new_ae(), toy_data(8), mse, lr=-1.0), ValueError, "lr must be"),
        (lambda: aelib.fit(new_ae(), toy_data(8).squeeze(1), mse), ValueError,
         r"shape \(8, 28, 28\); aelib expects images as \(N, 1, 28, 28\): use x.unsqueeze\(1\)"),
        (lambda: aelib.fit(new_ae(), toy_data(8) * 255, mse), ValueError,
         r"values in \[0, 2\d\d(\.\d+)?\]; aelib expects pixel values in \[0, 1\]: use x / 255"),
        (lambda: aelib.fit(new_ae(), (toy_data(8) * 255).to(torch.uint8), mse), TypeError,
         r"dtype torch.uint8.*x.float\(\) / 255"),
        (lambda: aelib.fit(new_ae(), toy_data(8).masked_fill(torch.rand(8, 1, 28, 28) < 0.01,
                                                            float("nan")), mse),
         ValueError, "contains NaN"),
        (lambda: aelib.fit(new_ae(), [[0.0] * 784], mse), TypeError,
         "expects a torch.Tensor of training data as x, got list"),
        (lambda: aelib.fit("ae", toy_data(8), mse), TypeError, "torch.nn.Module as model"),
        (lambda: aelib.fit(new_ae(), toy_data(8), mse(new_ae(), toy_data(8))), TypeError,
         "pass the function itself"),
        (lambda: aelib.fit(new_ae(), toy_data(8), lambda m, x: (m(x) - x) ** 2), TypeError,
         r"must return a scalar tensor.*shape \(8, 1, 28, 28\)"),
        (lambda: aelib.fit(torch.nn.ReLU(), torch.rand(8, 3), lambda m, x: m(x).mean()),
         ValueError, "no trainable parameters"),
        (lambda: aelib.fit_gan(new_ae(), toy_data(8)), TypeError, "like aelib.models.GAN"),
    ],
)
def test_bad_input_to_fit_gets_one_sentence(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_fit_takes_non_image_data_too():
    x = torch.rand(40, 3)
    model = torch.nn.Linear(3, 3)
    h = aelib.fit(model, x, lambda m, xb: ((m(xb) - xb) ** 2).mean(), num_epochs=2,
                  batch_size=8, progress=False)  # fmt: skip
    assert len(h.loss) == 2


# ---------------------------------------------------------------- fault: a non-finite loss


def test_a_nan_loss_stops_training_at_its_epoch_and_batch():
    calls = {"n": 0}

    def loss_fn(m, x):
        calls["n"] += 1
        loss = mse(m, x)
        return loss * float("nan") if calls["n"] == 8 + 3 else loss  # epoch 2, batch 3

    with pytest.raises(aelib.NonFiniteLossError) as err:
        aelib.fit(new_ae(), toy_data(), loss_fn, num_epochs=5, batch_size=32, progress=False)
    msg = str(err.value)
    assert "epoch 2 of 5, batch 3 of 8" in msg and "loss became nan" in msg
    assert "finite for 10 batches before" in msg and "try lr=0.0001" in msg
    assert calls["n"] == 16  # stopped after that epoch: no third epoch was run


def test_a_loss_that_is_nan_from_the_start_points_at_the_loss_function():
    def log_of_zero(m, x):
        return (torch.log(m(x) * 0) * 0).mean() + float("inf")

    with pytest.raises(aelib.NonFiniteLossError, match="very first batch.*log of 0"):
        aelib.fit(new_ae(), toy_data(64), log_of_zero, num_epochs=3, batch_size=32,
                  progress=False)  # fmt: skip


def test_a_diverging_learning_rate_is_caught():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.rand(64, 1) + 1.0
    with pytest.raises(aelib.NonFiniteLossError, match=r"lower the learning rate \(lr=1e\+30"):
        aelib.fit(model, x, lambda m, xb: m(xb).pow(2).mean(), num_epochs=20, batch_size=8,
                  lr=1e30, progress=False)  # fmt: skip


# ------------------------------------------------------------- fit_gan: D(real) and D(fake)


def test_fit_gan_logs_d_real_and_d_fake_from_the_same_discriminator():
    """Both probabilities come from D's pass before its update (the pass d_loss uses)."""
    import copy

    torch.manual_seed(0)
    gan = M.GAN()
    start = copy.deepcopy(gan)  # the parameters the single step starts from
    x = toy_data(64)
    h = aelib.fit_gan(gan, x, num_epochs=1, batch_size=64, seed=5, progress=False)
    torch.manual_seed(5)  # what _loop does; the batch order uses its own generator
    z = torch.randn(64, start.generator.latent_dims)  # the step's first draw
    with torch.no_grad():
        fake = start.generator(z)
        d_real = torch.sigmoid(start.discriminator(x)).mean().item()
        d_fake = torch.sigmoid(start.discriminator(fake)).mean().item()
        after = torch.sigmoid(gan.discriminator(fake)).mean().item()  # D after its update
    assert h.terms["d_real"][0] == pytest.approx(d_real, rel=1e-5)
    assert h.terms["d_fake"][0] == pytest.approx(d_fake, rel=1e-5)
    assert abs(after - d_fake) > 1e-4  # the old logging (after D's update) would differ
    bce = torch.nn.functional.binary_cross_entropy
    with torch.no_grad():  # and d_loss is the loss of exactly these two probabilities
        d_loss = (bce(torch.sigmoid(start.discriminator(x)), torch.ones(64))
                  + bce(torch.sigmoid(start.discriminator(fake)), torch.zeros(64)))  # fmt: skip
    assert h.terms["d_loss"][0] == pytest.approx(d_loss.item(), rel=1e-4)


# --------------------------------------------------------------- what a saved notebook shows


def test_summary_line_names_epochs_loss_and_time():
    h = T.History([0.5, 0.0259], {}, False, 58.2)
    assert T.summary("ae", h) == "ae: 2 epochs, final loss 0.0259, trained in 58 s"
    assert T.summary("ae", h, cached=True).endswith("trained in 58 s (loaded from the cache)")
    v = T.History([300.0, 258.5], {"recon": [290.0, 252.2], "kl": [10.0, 6.31]}, False, 3.21)
    assert T.summary("vae", v) == ("vae: 2 epochs, final loss 258.5 (recon 252.2, kl 6.31), "
                                   "trained in 3.2 s")  # fmt: skip
    g = T.History([1.9], {"d_loss": [0.78], "g_loss": [1.9], "d_real": [0.74]}, False, 45.0)
    assert T.summary("gan", g) == ("gan: 1 epoch, final loss 1.9 (d_loss 0.78, d_real 0.74), "
                                   "trained in 45 s")  # fmt: skip
    i = T.History([0.5], {}, True, 1.0)
    assert T.summary("ae", i, planned=5) == ("ae: interrupted after 1 of 5 epochs, final loss "
                                             "0.5, 1.0 s")  # fmt: skip


def test_a_terminal_gets_the_summary_line_and_no_bar_left(capsys):
    aelib.fit(new_ae(), toy_data(64), mse, num_epochs=2, batch_size=32, desc="toy")
    out, err = capsys.readouterr()
    assert out.startswith("toy: 2 epochs, final loss ") and "trained in" in out
    assert "100%" not in err.rsplit("\r", 1)[-1]  # leave=False: the bar is cleared at the end


NOTEBOOK_CELL = """
import torch, aelib
from aelib import models
torch.manual_seed(0)
x = torch.rand(64, 1, 28, 28)
aelib.fit(models.Autoencoder(), x, lambda m, b: ((m(b) - b) ** 2).mean(), num_epochs=2,
          batch_size=16, desc="toy")
"""


def test_a_saved_notebook_keeps_the_summary_line_not_a_frozen_bar(tmp_path):
    """What nbconvert/nbclient store: the bar's display is updated to the summary line."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    seen = []  # what a live front end (JupyterLab) receives while the cell runs

    class Client(nbclient.NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] in ("display_data", "update_display_data"):
                seen.append((msg["msg_type"], sorted(msg["content"]["data"])))
            return super().process_message(msg, cell, cell_index)

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    Client(nb, timeout=120, kernel_name="python3",
           resources={"metadata": {"path": str(tmp_path)}}).execute()
    widget = "application/vnd.jupyter.widget-view+json"
    assert seen[0] == ("display_data", [widget, "text/plain"])  # the live tqdm widget bar
    assert seen[-1] == ("update_display_data", ["text/plain"])  # replaced by the summary
    outputs = nb.cells[0].outputs
    texts = [o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in outputs]
    assert not any("0%|" in t or "it/s" in t or "batch/s" in t for t in texts), texts
    (line,) = [t for t in texts if t.startswith("toy: 2 epochs")]
    assert "final loss" in line and "trained in" in line
    assert all("application/vnd.jupyter.widget-view+json" not in o.get("data", {})
               for o in outputs)  # fmt: skip
