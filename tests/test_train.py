"""aelib.train: learning, determinism, interruption, and the train-or-load cache."""

from __future__ import annotations

import pickle
from pathlib import Path

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


def test_interrupt_keeps_the_model_and_history(capsys):
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


def test_bad_training_data_is_explained():
    with pytest.raises(ValueError, match="non-empty batch tensor"):
        aelib.fit(new_ae(), torch.empty(0, 1, 28, 28), mse, progress=False)
    with pytest.raises(ValueError, match="num_epochs and batch_size"):
        aelib.fit(new_ae(), toy_data(8), mse, num_epochs=0, progress=False)


# --------------------------------------------------------------------------- the cache


def test_train_or_load_trains_once_then_loads(isolated, capsys, monkeypatch):
    x = toy_data()
    first = new_ae()
    h1 = aelib.train_or_load("ae", first, x, mse, num_epochs=2, batch_size=32, progress=False)
    files = list((isolated / "cache").glob("ae-*.pt"))
    assert len(files) == 1 and not list((isolated / "cache").glob(".*part"))

    monkeypatch.setattr(T, "fit", lambda *a, **k: pytest.fail("retrained instead of loading"))
    second = new_ae(seed=99)
    h2 = aelib.train_or_load("ae", second, x, mse, num_epochs=2, batch_size=32, progress=False)
    assert "Loaded ae" in capsys.readouterr().out
    assert h2.loss == h1.loss and not second.training
    for pa, pb in zip(first.parameters(), second.parameters()):
        assert torch.equal(pa, pb)


def test_changed_settings_or_data_retrain(isolated):
    x = toy_data()
    aelib.train_or_load("ae", new_ae(), x, mse, num_epochs=1, batch_size=32, progress=False)
    aelib.train_or_load("ae", new_ae(), x, mse, num_epochs=2, batch_size=32, progress=False)
    aelib.train_or_load("ae", new_ae(), toy_data(seed=1), mse, num_epochs=1, batch_size=32,
                        progress=False)  # fmt: skip
    assert len(list((isolated / "cache").glob("ae-*.pt"))) == 3


def _only_checkpoint(isolated) -> Path:
    (path,) = (isolated / "cache").glob("ae-*.pt")
    return path


def test_corrupt_checkpoint_is_reported_moved_aside_and_retrained(isolated, capsys):
    x = toy_data()
    aelib.train_or_load("ae", new_ae(), x, mse, num_epochs=1, batch_size=32, progress=False)
    path = _only_checkpoint(isolated)
    path.write_bytes(path.read_bytes()[:500])  # truncated, as after a full disk
    model = new_ae()
    h = aelib.train_or_load("ae", model, x, mse, num_epochs=1, batch_size=32, progress=False)
    out = capsys.readouterr().out
    assert "corrupt or truncated" in out and "training again" in out
    assert len(h.loss) == 1 and path.exists()
    assert len(list(path.parent.glob("*.rejected-*"))) == 1  # kept, not deleted


class Exploit:
    marker = ""

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (self.marker, "w"))


def test_a_pickle_with_code_is_refused(isolated, capsys):
    x = toy_data()
    aelib.train_or_load("ae", new_ae(), x, mse, num_epochs=1, batch_size=32, progress=False)
    path = _only_checkpoint(isolated)
    marker = isolated / "pwned"
    Exploit.marker = str(marker)
    torch.save({"state_dict": Exploit()}, path)
    with pytest.raises(T.CheckpointError, match="not plain weights"):
        T.load_checkpoint(new_ae(), path)
    aelib.train_or_load("ae", new_ae(), x, mse, num_epochs=1, batch_size=32, progress=False)
    assert "not plain weights" in capsys.readouterr().out
    assert not marker.exists()  # the payload never ran


def test_checkpoint_of_another_architecture_is_explained(tmp_path):
    path = T.save_checkpoint(M.Autoencoder(latent_dims=2), tmp_path / "ae.pt")
    with pytest.raises(T.CheckpointError, match=r"another architecture.*linear3.weight: \[2, 50\]"):
        T.load_checkpoint(M.Autoencoder(latent_dims=3), path)
    match = r"another architecture \(Autoencoder\).*missing encoder.linear1_1.weight"
    with pytest.raises(T.CheckpointError, match=match):
        T.load_checkpoint(M.VarAutoencoder(), path)


def test_bare_state_dicts_load_and_missing_files_are_explained(tmp_path):
    src = M.Autoencoder()
    torch.save(src.state_dict(), tmp_path / "sd.pt")
    dst = M.Autoencoder()
    assert T.load_checkpoint(dst, tmp_path / "sd.pt") is None
    assert torch.equal(src.encoder.linear1.weight, dst.encoder.linear1.weight)
    with pytest.raises(T.CheckpointError, match="No checkpoint at"):
        T.load_checkpoint(dst, tmp_path / "nope.pt")


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = T.save_checkpoint(M.Autoencoder(), tmp_path / "ae.pt")
    before = path.read_bytes()

    def full_disk(obj, f, *a, **k):
        Path(f).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        T.save_checkpoint(M.Autoencoder(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ae.pt"]


def test_interrupted_training_is_not_cached(isolated, capsys):
    def stop(m, x):
        raise KeyboardInterrupt

    h = aelib.train_or_load("ae", new_ae(), toy_data(), stop, num_epochs=1, progress=False)
    assert h.interrupted and "Not caching ae" in capsys.readouterr().out
    assert not list((isolated / "cache").glob("*.pt"))


def test_gan_round_trip_through_the_cache(isolated):
    x = toy_data(64)
    torch.manual_seed(0)
    a = M.GAN()
    aelib.train_or_load("gan", a, x, gan=True, num_epochs=1, batch_size=32, progress=False)
    b = M.GAN()
    aelib.train_or_load("gan", b, x, gan=True, num_epochs=1, batch_size=32, progress=False)
    assert torch.equal(a.generator.linear3.weight, b.generator.linear3.weight)


def test_history_survives_weights_only_loading(tmp_path):
    h = T.History([1.0, 0.5], {"kl": [3.0, 2.0]}, False, 1.5)
    T.save_checkpoint(M.Autoencoder(), tmp_path / "a.pt", h)
    assert T.load_checkpoint(M.Autoencoder(), tmp_path / "a.pt") == h
    assert pickle.loads(pickle.dumps(h)) == h
