"""aelib.data: resolution order, provenance and clear errors, on idx files made here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

import aelib
from aelib import data as D
from tests.conftest import in_ci, make_idx_set, write_raw

SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")


def raw_dir(root: Path, folder: str = "FashionMNIST") -> Path:
    return root / "data" / folder / "raw"


def test_loads_raw_files_from_the_data_dir(isolated, capsys):
    write_raw(raw_dir(isolated), make_idx_set(24, 8))
    ds = D.load_dataset("fashion-mnist")
    assert ds.x_train.shape == (24, 1, 28, 28) and ds.x_test.shape == (8, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0
    assert ds.y_train.dtype == torch.int64 and ds.y_train.shape == (24,)
    assert ds.classes[0] == "T-shirt/top" and len(ds.classes) == 10
    assert "24 train / 8 test" in ds.source and "data folder" in ds.source
    assert "found the raw files" in capsys.readouterr().out


def test_pixels_match_the_file_bytes(isolated):
    files = make_idx_set(5, 3)
    write_raw(raw_dir(isolated), files)
    ds = D.load_dataset("fashion-mnist")
    first = torch.tensor(list(files["train-images-idx3-ubyte"][16 : 16 + 784]), dtype=torch.float32)
    torch.testing.assert_close(ds.x_train[0].flatten(), first / 255.0)
    assert ds.y_train[0].item() == files["train-labels-idx1-ubyte"][8]


def test_mnist_uses_its_own_folder_and_digit_names(isolated):
    write_raw(raw_dir(isolated, "MNIST"), make_idx_set(6, 2))
    ds = D.load_dataset("mnist")
    assert ds.name == "mnist" and ds.classes == [str(i) for i in range(10)]
    assert ds.source.startswith("MNIST: 6 train / 2 test")


def test_system_copy_is_decompressed_into_the_data_dir(isolated, monkeypatch, capsys):
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    ds = D.load_dataset()
    assert len(ds.x_train) == 10 and "system copy" in ds.source
    assert (raw_dir(isolated) / "t10k-images-idx3-ubyte").exists()
    assert not list(raw_dir(isolated).glob("*.part"))  # no half-written files left
    assert "using the system copy" in capsys.readouterr().out
    D.load_dataset()  # second time: read straight from the data dir
    assert "found the raw files" in capsys.readouterr().out


def test_a_missing_split_is_completed_from_the_system_copy(isolated, monkeypatch, capsys):
    files = make_idx_set(10, 4)
    write_raw(raw_dir(isolated), {k: v for k, v in files.items() if k.startswith("train")})
    system = write_raw(isolated / "system", files, gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    ds = D.load_dataset()
    assert len(ds.x_test) == 4
    assert "lacks t10k-images-idx3-ubyte" in capsys.readouterr().out


def test_a_missing_split_without_copies_falls_back_naming_the_file(isolated, capsys):
    files = make_idx_set(10, 4)
    write_raw(raw_dir(isolated), {k: v for k, v in files.items() if k.startswith("train")})
    ds = D.load_dataset()
    out = capsys.readouterr().out
    assert ds.name == "digits"
    assert "t10k-labels-idx1-ubyte" in out and "NOTICE" in out


def test_truncated_file_names_the_file_and_the_fix(isolated):
    files = make_idx_set(10, 4)
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-100]
    write_raw(raw_dir(isolated), files)
    with pytest.raises(D.DataError) as err:
        D.load_dataset()
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "truncated" in msg and "Delete" in msg


def test_header_only_fragment_is_reported(isolated):
    files = make_idx_set(10, 4)
    files["t10k-labels-idx1-ubyte"] = b"\x00\x00"
    write_raw(raw_dir(isolated), files)
    with pytest.raises(D.DataError, match="t10k-labels-idx1-ubyte.*not even a header"):
        D.load_dataset()


def test_wrong_magic_number_is_reported(isolated):
    files = make_idx_set(10, 4)
    files["train-labels-idx1-ubyte"] = files["train-images-idx3-ubyte"]  # images where labels go
    write_raw(raw_dir(isolated), files)
    with pytest.raises(D.DataError, match="train-labels-idx1-ubyte is not an idx label file"):
        D.load_dataset()


def test_images_and_labels_of_different_lengths_are_reported(isolated):
    files = make_idx_set(10, 4)
    files["train-labels-idx1-ubyte"] = make_idx_set(7, 4)["train-labels-idx1-ubyte"]
    write_raw(raw_dir(isolated), files)
    with pytest.raises(D.DataError, match="10 images but .* 7 labels"):
        D.load_dataset()


def test_corrupt_system_copy_is_reported(isolated, monkeypatch):
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    gz = system / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:40])
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    with pytest.raises(D.DataError, match="Cannot decompress .*train-images-idx3-ubyte.gz"):
        D.load_dataset()
    assert not (raw_dir(isolated) / "train-images-idx3-ubyte").exists()


def test_unreachable_download_falls_back_with_a_notice(isolated, monkeypatch, capsys):
    monkeypatch.delenv("AELIB_OFFLINE")
    calls = []

    def offline(name, root, raw):
        calls.append(name)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(D, "_download", offline)
    ds = D.load_dataset()
    out = capsys.readouterr().out
    assert calls == ["fashion-mnist"] and ds.name == "digits"
    assert "download failed (URLError" in out and "apt-get install dataset-fashion-mnist" in out


def test_strict_mode_turns_the_fallback_into_an_error(isolated, monkeypatch):
    monkeypatch.setenv("AELIB_STRICT_DATA", "1")
    with pytest.raises(D.DataError, match="fashion-mnist is not available.*AELIB_STRICT_DATA"):
        D.load_dataset()


def test_download_writes_nothing_when_it_fails_midway(isolated, monkeypatch):
    """A failed download leaves no partial files where the next run would trust them."""
    monkeypatch.delenv("AELIB_OFFLINE")
    from torchvision import datasets

    def broken(self):
        raw = Path(self.raw_folder)
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "train-images-idx3-ubyte").write_bytes(b"partial")
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(datasets.FashionMNIST, "download", broken)
    assert D.load_dataset().name == "digits"
    assert not (raw_dir(isolated) / "train-images-idx3-ubyte").exists()


def test_env_var_picks_the_dataset_and_bad_names_are_explained(isolated, monkeypatch):
    monkeypatch.setenv("AELIB_DATASET", "digits")
    assert D.load_dataset().name == "digits"
    with pytest.raises(ValueError, match="Choose one of fashion-mnist, mnist, digits"):
        D.load_dataset("cifar10")


def test_digits_fallback_is_28x28_in_unit_range_and_deterministic():
    a, b = D.load_digits(), D.load_digits()
    assert a.x_train.shape[1:] == (1, 28, 28)
    assert len(a.x_train) + len(a.x_test) == 1797
    assert 0.0 <= float(a.x_train.min()) and float(a.x_train.max()) <= 1.0
    assert torch.equal(a.y_test, b.y_test) and a.fingerprint == b.fingerprint


def test_installed_fashion_mnist_loads_offline(tmp_path, monkeypatch):
    if not SYSTEM_FMNIST.exists():
        if in_ci():
            pytest.fail(".ci/run should have installed dataset-fashion-mnist")
        pytest.skip("no system copy (apt-get install dataset-fashion-mnist)")
    monkeypatch.setenv("AELIB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AELIB_OFFLINE", "1")
    monkeypatch.delenv("AELIB_SYSTEM_DATA_DIR", raising=False)
    ds = D.load_dataset("fashion-mnist")
    assert (len(ds.x_train), len(ds.x_test)) == (60_000, 10_000)
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.x_train.shape == (60_000, 1, 28, 28)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=300)  # fmt: skip


def test_command_line_fallback_and_strict_error(tmp_path):
    """What a user sees with no copy and no network: a notice, or a clear one-line error."""
    env = {"AELIB_DATA_DIR": str(tmp_path), "AELIB_SYSTEM_DATA_DIR": "", "AELIB_OFFLINE": "1"}
    ok = _run("import aelib; ds = aelib.load_dataset(); print(ds.name, len(ds.x_train))", **env)
    assert ok.returncode == 0, ok.stderr
    assert "NOTICE: fashion-mnist is not available" in ok.stdout
    assert ok.stdout.strip().endswith("digits 1438")
    bad = _run("import aelib; aelib.load_dataset()", AELIB_STRICT_DATA="1", **env)
    assert bad.returncode != 0
    assert "aelib.data.DataError: fashion-mnist is not available" in bad.stderr


def test_import_aelib_stays_light():
    """Heavy optional packages load where they are used, not on `import aelib`."""
    out = _run("import sys, aelib; print(sorted(m for m in ('torchvision', 'sklearn', "
               "'matplotlib', 'ipywidgets') if m in sys.modules))")  # fmt: skip
    assert out.stdout.strip() == "[]", out.stderr
    assert callable(aelib.load_dataset) and callable(aelib.fit)
