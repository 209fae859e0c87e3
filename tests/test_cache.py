"""aelib.cache: train once then load, the key, and every fault kind of a checkpoint cache.

Faults are provoked for real where root can provoke them (a file where a folder should be,
a folder whose parent is a regular file, random bytes, two processes at once) and injected
where it cannot (root reads any file and writes any folder: a PermissionError from open,
ENOSPC / EROFS from os.replace).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import aelib
from aelib import cache as C
from aelib import models as M
from aelib import train as T


def mse(model, x):
    return F.mse_loss(model(x), x)


def toy_data(n: int = 256, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(2, 1, 28, 28, generator=g)
    pick = torch.randint(0, 2, (n,), generator=g)
    return (base[pick] + 0.05 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)


def new_ae(seed: int = 0) -> M.Autoencoder:
    torch.manual_seed(seed)
    return M.Autoencoder()


def tol(name="ae", model=None, x=None, loss=mse, **kw):
    """train_or_load with the tests' small settings."""
    kw = {"num_epochs": 1, "batch_size": 32, "progress": False, **kw}
    return aelib.train_or_load(name, model or new_ae(), toy_data() if x is None else x, loss, **kw)


def checkpoints(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pt"))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and mtime: to prove nothing was written."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="aelib")
    return caplog


def test_train_or_load_trains_once_then_loads(isolated, capsys, logs, monkeypatch):
    x = toy_data()
    first = new_ae()
    h1 = tol(model=first, x=x, num_epochs=2)
    (path,) = checkpoints(isolated / "cache")
    assert not list((isolated / "cache").glob(".*part"))
    monkeypatch.setattr(C, "fit", lambda *a, **k: pytest.fail("retrained instead of loading"))
    second = new_ae(seed=99)
    h2 = tol(model=second, x=x, num_epochs=2, progress=True)
    assert f"Loaded ae from {path}" in logs.text  # at INFO: not in a notebook's output
    out = capsys.readouterr().out
    assert out.startswith("ae: 2 epochs, final loss") and "(loaded from the cache)" in out
    assert path.name not in out  # no file names in what a notebook shows
    assert h2.loss == h1.loss and not second.training
    for pa, pb in zip(first.parameters(), second.parameters()):
        assert torch.equal(pa, pb)


def test_changed_settings_or_data_retrain(isolated):
    tol(num_epochs=1)
    tol(num_epochs=2)
    tol(x=toy_data(seed=1))
    assert len(checkpoints(isolated / "cache")) == 3


def test_the_key_of_the_course_models_did_not_change():
    """ae_loss reads nothing but its source: its key is the one the shared caches hold."""
    assert C._describe_fn(aelib.zoo.ae_loss) == C._source_hash(aelib.zoo.ae_loss)


# ----------------------------------------------------- the key covers what the loss reads

SCALE = 1.0


def scaled_mse(model, x):
    return SCALE * F.mse_loss(model(x), x)


def make_weighted(weight):
    def weighted(model, x):
        return weight * F.mse_loss(model(x), x)

    return weighted


def test_a_changed_global_or_closure_value_retrains(isolated, monkeypatch):
    tol(loss=scaled_mse)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 2.0)
    tol(loss=scaled_mse)
    tol(loss=make_weighted(0.5))
    tol(loss=make_weighted(0.5))  # the same value: loaded
    tol(loss=make_weighted(4.0))
    assert len(checkpoints(isolated / "cache")) == 4


LOSSES = """
import torch.nn.functional as F


def helper(model, x):
    return {body}


def loss(model, x):
    return helper(model, x)
"""


def test_the_source_of_a_called_function_is_in_the_key(tmp_path, monkeypatch):
    """A student edits a helper that the loss calls: the key changes, the loss's own does not."""
    import importlib

    module = tmp_path / "student_losses.py"
    module.write_text(LOSSES.format(body="F.mse_loss(model(x), x)"))
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("student_losses")
    first = C._describe_fn(mod.loss)
    assert C._describe_fn(mod.loss) == first  # deterministic
    module.write_text(LOSSES.format(body="2 * F.mse_loss(model(x), x)"))
    mod = importlib.reload(mod)
    assert C._describe_fn(mod.loss) != first
    sys.modules.pop("student_losses")


def test_retrain_forces_a_new_training(isolated, monkeypatch):
    tol()
    calls = []
    real = C.fit
    monkeypatch.setattr(C, "fit", lambda *a, **k: calls.append(1) or real(*a, **k))
    tol(retrain=True)
    monkeypatch.setenv("AELIB_RETRAIN", "yes")
    tol()
    assert len(calls) == 2 and len(checkpoints(isolated / "cache")) == 1


def test_bad_names_are_refused(isolated):
    with pytest.raises(ValueError, match="file-name-safe"):
        tol(name="../outside")


# -------------------------------------------------- fault: unusable checkpoints, real causes


class Exploit:
    marker = ""

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (self.marker, "w"))


class Custom:
    pass


def _zip_of(names: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in names.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _good(path: Path) -> bytes:
    return path.read_bytes()


def _marked(**changes) -> bytes:
    payload = {"format": C.CHECKPOINT_FORMAT, "model": "Autoencoder",
               "state_dict": new_ae().state_dict(), "history": None, "meta": "{}"}  # fmt: skip
    payload.update(changes)
    return _torch_bytes(payload)


def _nan_weights() -> bytes:
    state = new_ae().state_dict()
    state["decoder.linear3.weight"][0, 0] = float("nan")
    return _marked(state_dict=state)


BAD = {  # kind -> (bytes from the good checkpoint's bytes, CheckpointError.reason, phrase)
    "truncated": (lambda good: good[:500], "truncated", "truncated or damaged"),
    "random bytes": (lambda good: os.urandom(4096), "not-a-checkpoint", "random or foreign"),
    "empty": (lambda good: b"", "empty", "is empty (0 bytes)"),
    "text": (lambda good: b"hello\n", "not-a-checkpoint", "not a torch checkpoint"),
    "plain pickle": (lambda good: pickle.dumps({"a": 1}), "not-a-checkpoint", "plain pickle"),
    "zip, not torch": (lambda good: _zip_of({"a.txt": b"x"}), "foreign", "not a torch"),
    "class pickle": (lambda good: _torch_bytes({"x": Custom()}), "code", "import and call"),
    "marker, list state": (lambda good: _marked(state_dict=[1, 2]), "damaged",
                           "marker but is damaged: its state_dict is list"),
    "marker, bad history": (lambda good: _marked(history={"loss": [1.0]}), "damaged",
                            "training history is malformed"),
    "marker, no state": (lambda good: _marked(state_dict=None), "damaged", "NoneType"),
    "foreign dict": (lambda good: _torch_bytes({"weights": [1.0], "epoch": 3}), "foreign",
                     "keys weights, epoch"),
    "non-finite weights": (lambda good: _nan_weights(), "non-finite", "NaN or infinite"),
    "other architecture": (lambda good: _torch_bytes(M.Autoencoder(latent_dims=3).state_dict()),
                           "architecture", "another architecture"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_an_unusable_checkpoint_is_named_by_its_real_cause_moved_aside_and_retrained(
    kind, isolated, logs
):
    tol()
    (path,) = checkpoints(isolated / "cache")
    make, reason, phrase = BAD[kind]
    bad = make(_good(path))
    path.write_bytes(bad)
    with pytest.raises(C.CheckpointError) as err:
        C.load_checkpoint(new_ae(), path)
    assert err.value.reason == reason and phrase in str(err.value), str(err.value)
    if kind != "class pickle":
        assert "asks to" not in str(err.value)  # not mislabelled as a malicious pickle
    h = tol()
    assert phrase in logs.text and "training ae again" in logs.text
    (aside,) = path.parent.glob("*.rejected-*")
    assert aside.read_bytes() == bad  # kept, byte for byte
    assert len(h.loss) == 1 and C.load_checkpoint(new_ae(), path) is not None


def test_a_pickle_with_code_is_refused_and_never_runs(isolated, logs):
    tol()
    (path,) = checkpoints(isolated / "cache")
    marker = isolated / "pwned"
    Exploit.marker = str(marker)
    torch.save({"state_dict": Exploit()}, path)
    with pytest.raises(C.CheckpointError, match=r"not plain weights.*import and call .*open"):
        C.load_checkpoint(new_ae(), path)
    tol()
    assert "not plain weights" in logs.text and not marker.exists()


def test_an_unreadable_checkpoint_is_not_called_corrupt_and_is_left_alone(isolated, logs,
                                                                         monkeypatch):  # fmt: skip
    """Root reads every file, so the permission error is injected where aelib opens it."""
    tol()
    (path,) = checkpoints(isolated / "cache")
    before = path.read_bytes()
    real_open = open

    def deny(file, *a, **k):
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(C, "open", deny, raising=False)
    with pytest.raises(C.CheckpointError) as err:
        C.load_checkpoint(new_ae(), path)
    assert err.value.reason == "unreadable" and "Permission denied" in str(err.value)
    assert "corrupt" not in str(err.value) and "may be healthy" in str(err.value)
    h = tol()  # trains, and neither moves nor overwrites the file it could not read
    assert len(h.loss) == 1 and path.read_bytes() == before
    assert not list(path.parent.glob("*.rejected-*"))
    assert "left in place" in logs.text and "Not caching ae" in logs.text


def test_a_folder_where_the_checkpoint_should_be_is_left_alone(isolated, logs):
    tol()
    (path,) = checkpoints(isolated / "cache")
    path.unlink()
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    h = tol()
    assert len(h.loss) == 1 and (path / "notes.txt").read_text() == "mine"
    assert "is a folder" in logs.text and "Not caching ae" in logs.text


def test_two_rejections_in_the_same_second_keep_both_files(isolated, monkeypatch):
    monkeypatch.setattr(C.time, "strftime", lambda fmt, *a: "20240101-120000")
    tol()
    (path,) = checkpoints(isolated / "cache")
    for content in (b"first bad", b"second bad"):
        path.write_bytes(content)
        tol()
    asides = sorted(p.read_bytes() for p in path.parent.glob("*.rejected-*"))
    assert asides == [b"first bad", b"second bad"]


RACER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import torch, torch.nn.functional as F
    import aelib

    barrier, me = Path(sys.argv[1]), sys.argv[2]
    real_replace = os.replace

    def replace(src, dst, *a, **k):  # both processes reach the rejection before either moves
        if ".rejected-" in str(dst):
            (barrier / me).touch()
            deadline = time.time() + 60
            while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
                time.sleep(0.005)
        return real_replace(src, dst, *a, **k)

    os.replace = replace

    def loss(model, x):
        return F.mse_loss(model(x), x)

    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model = aelib.models.Autoencoder()
    h = aelib.train_or_load("race", model, x, loss, num_epochs=1, batch_size=32, progress=False)
    print("ok", len(h.loss))
""")


def test_two_processes_rejecting_the_same_checkpoint_both_succeed(isolated, tmp_path):
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    env = {**os.environ, "AELIB_CACHE_DIR": str(isolated / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(aelib.__file__).parents[1])}  # fmt: skip
    first = subprocess.run([sys.executable, str(script), str(tmp_path), "first"], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr
    (path,) = checkpoints(isolated / "cache")
    path.write_bytes(b"not a checkpoint at all")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, str(script), str(barrier), who], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("a", "b")]  # fmt: skip
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0 and out.strip() == "ok 1", err
    assert sorted(q.name for q in barrier.iterdir()) == ["a", "b"]  # both really raced
    errs = " ".join(err for _, err in results)
    assert "Moved it to" in errs and "Another process moved it aside already" in errs
    (aside,) = path.parent.glob("*.rejected-*")
    assert aside.read_bytes() == b"not a checkpoint at all"  # nothing lost
    assert C.load_checkpoint(M.Autoencoder(), path) is not None
    assert not list(path.parent.glob(".*.part"))


# --------------------------------------------------- fault: a cache that cannot be written


def _unwritable_file_in_place(isolated, monkeypatch):
    (isolated / "cache").write_text("a file where the cache folder should be")


def _parent_is_a_file(isolated, monkeypatch):
    (isolated / "blocker").write_text("x")
    monkeypatch.setenv("AELIB_CACHE_DIR", str(isolated / "blocker" / "cache"))


def _disk_full(isolated, monkeypatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(aelib.files.os, "replace", full)


def _read_only_fs(isolated, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(aelib.files.tempfile, "mkstemp", read_only)


@pytest.mark.parametrize("fault, cause", [
    (_unwritable_file_in_place, "File exists"),
    (_parent_is_a_file, "Not a directory"),
    (_disk_full, "No space left on device"),
    (_read_only_fs, "Read-only file system"),
])  # fmt: skip
def test_a_cache_that_cannot_be_written_still_returns_the_trained_model(
    fault, cause, isolated, monkeypatch, logs
):
    fault(isolated, monkeypatch)
    model = new_ae()
    before = model.decoder.linear3.bias.detach().clone()
    h = tol(model=model)
    assert len(h.loss) == 1 and not h.interrupted
    assert not torch.equal(before, model.decoder.linear3.bias)  # trained, and returned
    (notice,) = [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]
    assert notice.startswith("Not caching ae: cannot write") and cause in notice
    assert "trained model is returned" in notice and "\n" not in notice
    assert not list(isolated.rglob("*.part"))


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = C.save_checkpoint(M.Autoencoder(), tmp_path / "ae.pt")
    before = path.read_bytes()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(aelib.files.os, "replace", full)
    with pytest.raises(OSError, match="cannot write ae.pt into .*No space left on device"):
        C.save_checkpoint(M.Autoencoder(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ae.pt"]


# ------------------------------------------------------ fault: nothing non-finite is cached


def test_a_diverged_training_is_never_cached(isolated):
    def diverge(m, x):
        return F.mse_loss(m(x), x) * float("inf")

    with pytest.raises(aelib.NonFiniteLossError, match="Nothing was cached"):
        tol(loss=diverge)
    assert not list(isolated.rglob("*.pt"))


def test_save_checkpoint_refuses_non_finite_weights(tmp_path):
    model = M.Autoencoder()
    with torch.no_grad():
        model.encoder.linear1.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"NaN or infinite weights \(encoder.linear1.weight\)"):
        C.save_checkpoint(model, tmp_path / "ae.pt")
    assert not list(tmp_path.iterdir())


def test_non_finite_weights_after_the_last_step_are_not_cached(isolated, logs, monkeypatch):
    real_fit = C.fit

    def fit_then_break(model, *a, **k):
        h = real_fit(model, *a, **k)
        with torch.no_grad():
            model.decoder.linear3.bias[0] = float("nan")
        return h

    monkeypatch.setattr(C, "fit", fit_then_break)
    tol()
    assert "Not caching ae" in logs.text and not list(isolated.rglob("*.pt"))


# ------------------------------------------------------------------ shared read-only cache


def test_a_shared_cache_is_read_first_and_never_written(isolated, monkeypatch, logs):
    shared = isolated / "shared"
    tol(cache=shared, num_epochs=2)  # the instructor's `make warm`
    tol(cache=shared, name="other")
    (shared / "junk-000000000000.pt").write_bytes(b"junk")
    before = snapshot(shared)
    os.chmod(shared, 0o555)  # read-only, as on a hub (root could still write: checked below)
    monkeypatch.setenv("AELIB_SHARED_CACHE", f"{isolated / 'nowhere'}{os.pathsep}{shared}")
    monkeypatch.setattr(C, "fit", lambda *a, **k: pytest.fail("trained instead of loading"))
    h = tol(num_epochs=2)
    assert len(h.loss) == 2 and "shared cache" in logs.text
    assert not (isolated / "cache").exists()  # the student's own cache was not needed
    assert snapshot(shared) == before
    os.chmod(shared, 0o755)


def test_a_bad_checkpoint_in_the_shared_cache_is_reported_not_moved(isolated, monkeypatch,
                                                                   logs):  # fmt: skip
    shared = isolated / "shared"
    tol(cache=shared)
    (path,) = checkpoints(shared)
    path.write_bytes(b"broken")
    before = snapshot(shared)
    monkeypatch.setenv("AELIB_SHARED_CACHE", str(shared))
    h = tol()
    assert len(h.loss) == 1 and "Not using it (left in place)" in logs.text
    assert snapshot(shared) == before  # neither moved aside nor replaced
    assert [p.name for p in checkpoints(isolated / "cache")] == [path.name]  # trained: own cache


# ---------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_checkpoints_get_the_users_umask_permissions(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = C.save_checkpoint(M.Autoencoder(), tmp_path / "ae.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ------------------------------------------------------------------------- kept behaviour


def test_interrupted_training_is_not_cached(isolated, logs):
    def stop(m, x):
        raise KeyboardInterrupt

    h = tol(loss=stop)
    assert h.interrupted and "Not caching ae: training was interrupted" in logs.text
    assert not list((isolated / "cache").glob("*.pt"))


def test_gan_round_trip_through_the_cache(isolated):
    x = toy_data(64)
    torch.manual_seed(0)
    a = M.GAN()
    aelib.train_or_load("gan", a, x, gan=True, num_epochs=1, batch_size=32, progress=False)
    b = M.GAN()
    aelib.train_or_load("gan", b, x, gan=True, num_epochs=1, batch_size=32, progress=False)
    assert torch.equal(a.generator.linear3.weight, b.generator.linear3.weight)


def test_checkpoint_of_another_architecture_is_explained(tmp_path):
    path = C.save_checkpoint(M.Autoencoder(latent_dims=2), tmp_path / "ae.pt")
    with pytest.raises(C.CheckpointError, match=r"another architecture.*linear3.weight: \[2, 50\]"):
        C.load_checkpoint(M.Autoencoder(latent_dims=3), path)
    match = r"another architecture \(Autoencoder\).*missing encoder.linear1_1.weight"
    with pytest.raises(C.CheckpointError, match=match):
        C.load_checkpoint(M.VarAutoencoder(), path)


def test_bare_state_dicts_load_and_missing_files_are_explained(tmp_path):
    src = M.Autoencoder()
    torch.save(src.state_dict(), tmp_path / "sd.pt")
    dst = M.Autoencoder()
    assert C.load_checkpoint(dst, tmp_path / "sd.pt") is None
    assert torch.equal(src.encoder.linear1.weight, dst.encoder.linear1.weight)
    with pytest.raises(C.CheckpointError, match="No checkpoint at"):
        C.load_checkpoint(dst, tmp_path / "nope.pt")


def test_history_survives_weights_only_loading(tmp_path):
    h = T.History([1.0, 0.5], {"kl": [3.0, 2.0]}, False, 1.5)
    C.save_checkpoint(M.Autoencoder(), tmp_path / "a.pt", h)
    assert C.load_checkpoint(M.Autoencoder(), tmp_path / "a.pt") == h
    assert pickle.loads(pickle.dumps(h)) == h


def test_the_old_import_paths_still_work():
    assert aelib.train.train_or_load is C.train_or_load is aelib.train_or_load
    assert aelib.train.CheckpointError is C.CheckpointError is aelib.CheckpointError
    assert aelib.save_checkpoint is C.save_checkpoint and aelib.load_checkpoint is C.load_checkpoint
