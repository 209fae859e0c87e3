"""aelib.data: resolution order, provenance and clear errors, on idx files made here.

Downloads go to fake servers on 127.0.0.1 (AELIB_DATA_MIRROR): one that accepts and never
answers, one that hangs up midway, one that serves good files.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

import aelib
from aelib import data as D
from tests.conftest import in_ci, make_idx_set, write_raw


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="aelib")
    return caplog


def notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")


def raw_dir(root: Path, folder: str = "FashionMNIST") -> Path:
    return root / "data" / folder / "raw"


def test_loads_raw_files_from_the_data_dir(isolated, logs):
    write_raw(raw_dir(isolated), make_idx_set(24, 8))
    ds = D.load_dataset("fashion-mnist")
    assert ds.x_train.shape == (24, 1, 28, 28) and ds.x_test.shape == (8, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0
    assert ds.y_train.dtype == torch.int64 and ds.y_train.shape == (24,)
    assert ds.classes[0] == "T-shirt/top" and len(ds.classes) == 10
    assert "24 train / 8 test" in ds.source and "data folder" in ds.source
    assert "found the raw files" in logs.text and not notices(logs)  # INFO: not shown by default


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


def test_system_copy_is_decompressed_into_the_data_dir(isolated, monkeypatch, logs):
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    ds = D.load_dataset()
    assert len(ds.x_train) == 10 and "system copy" in ds.source
    assert (raw_dir(isolated) / "t10k-images-idx3-ubyte").exists()
    assert not list(raw_dir(isolated).glob("*.part"))  # no half-written files left
    assert "using the system copy" in logs.text
    logs.clear()
    D.load_dataset()  # second time: read straight from the data dir
    assert "found the raw files" in logs.text


def test_a_missing_split_is_completed_from_the_system_copy(isolated, monkeypatch, logs):
    files = make_idx_set(10, 4)
    write_raw(raw_dir(isolated), {k: v for k, v in files.items() if k.startswith("train")})
    system = write_raw(isolated / "system", files, gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    ds = D.load_dataset()
    assert len(ds.x_test) == 4
    assert "lacks t10k-images-idx3-ubyte" in logs.text


def test_a_missing_split_without_copies_falls_back_naming_the_file(isolated, logs):
    files = make_idx_set(10, 4)
    write_raw(raw_dir(isolated), {k: v for k, v in files.items() if k.startswith("train")})
    ds = D.load_dataset()
    assert ds.name == "digits"
    assert "t10k-labels-idx1-ubyte" in logs.text
    (notice,) = notices(logs)
    assert notice.startswith("NOTICE: fashion-mnist is not available")


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


def test_unreachable_download_falls_back_with_a_notice(isolated, monkeypatch, logs):
    monkeypatch.delenv("AELIB_OFFLINE")
    calls = []

    def offline(name, root, raw):
        calls.append(name)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(D, "_download", offline)
    ds = D.load_dataset()
    assert calls == ["fashion-mnist"] and ds.name == "digits"
    notice = notices(logs)[-1]
    assert "download failed (URLError: [Errno -3] Temporary failure in name resolution)" in notice
    assert "apt-get install dataset-fashion-mnist" in notice


@pytest.mark.parametrize("value", ["1", "true", "YES", "On"])
def test_strict_mode_turns_the_fallback_into_an_error(isolated, monkeypatch, value):
    monkeypatch.setenv("AELIB_STRICT_DATA", value)
    with pytest.raises(D.DataError, match="fashion-mnist is not available.*AELIB_STRICT_DATA"):
        D.load_dataset()


def test_offline_accepts_true_as_well(isolated, monkeypatch, logs):
    monkeypatch.setenv("AELIB_OFFLINE", "True")
    monkeypatch.setattr(D, "_download", lambda *a: pytest.fail("downloaded although offline"))
    assert D.load_dataset().name == "digits"
    assert "download skipped (AELIB_OFFLINE is set)" in notices(logs)[-1]


# ------------------------------------------------------------------ downloads, fake servers


@contextmanager
def silent_server():
    """Accepts connections on 127.0.0.1 and never sends a byte (a network that drops packets)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.05)
    conns, stop = [], threading.Event()

    def run():
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/", conns
    finally:
        stop.set()
        thread.join()
        for c in conns:
            c.close()
        srv.close()


@contextmanager
def file_server(files: dict[str, bytes], cut: dict[str, int] | None = None):
    """Serves ``files`` on 127.0.0.1; a name in ``cut`` hangs up after that many bytes."""
    cut = cut or {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            name = self.path.lstrip("/")
            if name not in files:
                self.send_error(404)
                return
            data = files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: cut.get(name, len(data))])

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


@pytest.fixture
def online(isolated, monkeypatch):
    """Downloads allowed, to the fake servers only; the gz files and their real MD5 sums."""
    monkeypatch.delenv("AELIB_OFFLINE")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    gz = {f"{k}.gz": gzip.compress(v, mtime=0) for k, v in make_idx_set(12, 6).items()}
    monkeypatch.setitem(D._RESOURCES, "fashion-mnist",
                        [(k, hashlib.md5(v).hexdigest()) for k, v in gz.items()])  # fmt: skip
    return gz


def test_the_mirrors_and_checksums_are_torchvisions():
    from torchvision import datasets

    for name, cls in (("fashion-mnist", datasets.FashionMNIST), ("mnist", datasets.MNIST)):
        assert D._MIRRORS[name] == cls.mirrors and D._RESOURCES[name] == cls.resources


def nothing_written(root: Path) -> bool:
    """No raw file, no scratch folder, no partial file anywhere under the data folder."""
    return not [p for p in root.rglob("*") if p.is_file() or p.name.startswith(".download-")]


def test_a_server_that_never_answers_times_out_and_falls_back(online, isolated, monkeypatch,
                                                              logs):  # fmt: skip
    monkeypatch.setenv("AELIB_DOWNLOAD_TIMEOUT", "0.5")
    with silent_server() as (url, conns):
        monkeypatch.setenv("AELIB_DATA_MIRROR", url)
        start = time.perf_counter()
        ds = D.load_dataset()
        took = time.perf_counter() - start
        assert conns, "the download never reached the server"
    assert ds.name == "digits" and took < 10  # one file tried, 0.5 s, then the fallback
    notice = notices(logs)[-1]
    assert f"{url}train-images-idx3-ubyte.gz: TimeoutError: no answer within 0.5 s" in notice
    assert "AELIB_DOWNLOAD_TIMEOUT" in notice
    assert nothing_written(isolated / "data")


def test_a_download_cut_midway_leaves_no_partial_file(online, isolated, monkeypatch, logs):
    with file_server(online, cut={"t10k-images-idx3-ubyte.gz": 10}) as url:
        monkeypatch.setenv("AELIB_DATA_MIRROR", url)
        assert D.load_dataset().name == "digits"
    size = len(online["t10k-images-idx3-ubyte.gz"])
    assert f"the connection closed after 10 of {size:,} bytes" in notices(logs)[-1]
    assert nothing_written(isolated / "data")  # the two files before it are not kept either


def test_a_download_with_a_wrong_checksum_is_refused(online, isolated, monkeypatch, logs):
    bad = {**online, "train-labels-idx1-ubyte.gz": gzip.compress(b"\x00" * 100)}
    with file_server(bad) as url:
        monkeypatch.setenv("AELIB_DATA_MIRROR", url)
        assert D.load_dataset().name == "digits"
    assert "MD5 checksum" in notices(logs)[-1] and nothing_written(isolated / "data")


def test_a_good_download_is_used_and_the_next_mirror_is_tried(online, isolated, monkeypatch,
                                                              logs):  # fmt: skip
    with file_server({}) as empty, file_server(online) as url:  # the first mirror: 404
        monkeypatch.setenv("AELIB_DATA_MIRROR", f"{empty},{url}")
        ds = D.load_dataset()
    assert ds.name == "fashion-mnist" and len(ds.x_train) == 12 and "downloaded" in ds.source
    assert sorted(p.name for p in raw_dir(isolated).iterdir()) == sorted(
        k.removesuffix(".gz") for k in online)
    assert not list((isolated / "data").glob(".download-*"))


# ----------------------------------------------------- folders that cannot be written, disks


@pytest.mark.parametrize("blocker", ["data", "parent"])
def test_a_data_folder_that_cannot_be_created_is_explained(isolated, monkeypatch, blocker):
    """A file where the folder (or its parent) should be: what root cannot write either."""
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    if blocker == "data":
        (isolated / "data").write_text("not a folder")
        cause = "Not a directory"
    else:
        (isolated / "ro").write_text("not a folder")
        monkeypatch.setenv("AELIB_DATA_DIR", str(isolated / "ro" / "data"))
        cause = "Not a directory"
    with pytest.raises(D.DataError, match=f"Cannot write the data folder .*: {cause}. Set "
                                          "AELIB_DATA_DIR"):  # fmt: skip
        D.load_dataset()


def test_a_full_disk_while_decompressing_is_not_called_a_damaged_copy(isolated, monkeypatch):
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(aelib.files.os, "replace", full)
    with pytest.raises(D.DataError) as err:
        D.load_dataset()
    assert "No space left on device. Free some space" in str(err.value)
    assert "damaged" not in str(err.value)
    assert not list((isolated / "data").rglob("*.part"))


def test_a_shared_read_only_data_folder_is_read_in_place(isolated, monkeypatch, logs):
    shared = isolated / "shared"
    write_raw(shared / "FashionMNIST" / "raw", make_idx_set(10, 4))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in shared.rglob("*") if p.is_file()}
    os.chmod(shared, 0o555)
    monkeypatch.setenv("AELIB_SHARED_DATA", str(shared))
    try:
        ds = D.load_dataset()
    finally:
        os.chmod(shared, 0o755)
    assert ds.name == "fashion-mnist" and len(ds.x_train) == 10 and "shared folder" in ds.source
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in shared.rglob("*") if p.is_file()}
    assert after == before and not (isolated / "data").exists()  # nothing written anywhere


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_decompressed_files_get_the_users_umask(isolated, monkeypatch, mask, mode):
    system = write_raw(isolated / "system", make_idx_set(10, 4), gz=True)
    monkeypatch.setenv("AELIB_SYSTEM_DATA_DIR", str(system))
    old = os.umask(mask)
    try:
        D.load_dataset()
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in raw_dir(isolated).iterdir()}
    assert modes == {mode}


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
    assert ok.stderr.startswith("aelib.data: NOTICE: fashion-mnist is not available")
    assert len(ok.stderr.strip().splitlines()) == 1  # one line, nothing else
    assert ok.stdout.strip() == "digits 1438"
    bad = _run("import aelib; aelib.load_dataset()", AELIB_STRICT_DATA="1", **env)
    assert bad.returncode != 0
    assert "aelib.data.DataError: fashion-mnist is not available" in bad.stderr


def test_import_aelib_stays_light():
    """Heavy optional packages load where they are used, not on `import aelib`."""
    out = _run("import sys, aelib; print(sorted(m for m in ('torchvision', 'sklearn', "
               "'matplotlib', 'ipywidgets') if m in sys.modules))")  # fmt: skip
    assert out.stdout.strip() == "[]", out.stderr
    assert callable(aelib.load_dataset) and callable(aelib.fit)
