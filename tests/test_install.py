"""A non-editable install, used as a class hub uses it (issue 17): wheel, other folder, HOME.

The wheel is built from a copy of the source (so the checkout gets no build/ or egg-info),
installed with pip into a temporary folder, and run from another temporary folder with
HOME pointed at a third. An instructor run fills a shared cache; it is then made
read-only and the student run must load from it, train a new model into the per-user
cache, read the shared data folder in place, and pass one exercise check, while nothing
is written inside the installed package or the shared folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import make_idx_set, write_raw

ROOT = Path(__file__).resolve().parents[1]

STUDENT = r"""
import json, sys
from pathlib import Path
import torch, torch.nn.functional as F
import aelib

def loss(model, x):
    return F.mse_loss(model(x), x)

ds = aelib.load_dataset()
shared_model = aelib.models.Autoencoder()
h_shared = aelib.train_or_load("tiny", shared_model, ds.x_train, loss, num_epochs=2,
                               batch_size=8, progress=False)
own_epochs = 0
if sys.argv[1] == "student":  # a model only the student trains: into the per-user cache
    torch.manual_seed(1)
    own_model = aelib.models.Autoencoder(latent_dims=3)
    own_epochs = len(aelib.train_or_load("mine", own_model, ds.x_train, loss, num_epochs=1,
                                         batch_size=8, progress=False).loss)

def kl_term(mu, sigma):
    return 0.5 * (mu ** 2 + sigma ** 2 - 2 * torch.log(sigma) - 1).sum(dim=1)

feedback = aelib.exercises.check_kl(kl_term)
print(json.dumps({
    "aelib": aelib.__file__, "exercises": aelib.exercises.__file__, "source": ds.source,
    "n_train": len(ds.x_train), "shared_loss": h_shared.loss, "own_epochs": own_epochs,
    "cache": str(aelib.cache.cache_dir()), "data": str(aelib.data.data_dir()),
    "passed": feedback.passed,
}))
"""


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file (bytecode caches included) with its size and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def run(code: str, env: dict[str, str], cwd: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel and installed (pip, no dependencies) into a folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "aelib", src / "aelib",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp / "wheel"), str(src)], capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp / "wheel").glob("aelib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "aelib").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    site = tmp / "site"
    inst = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert inst.returncode == 0, inst.stdout + inst.stderr
    return site


def test_an_installed_copy_works_outside_the_checkout(installed, tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    shared_data, shared_cache = tmp_path / "srv" / "data", tmp_path / "srv" / "checkpoints"
    write_raw(shared_data / "FashionMNIST" / "raw", make_idx_set(24, 8))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AELIB_", "XDG_", "PYTHON"))}  # fmt: skip
    env.update(HOME=str(home), PYTHONPATH=str(installed), OMP_NUM_THREADS="1",
               AELIB_SHARED_DATA=str(shared_data), AELIB_SYSTEM_DATA_DIR="", AELIB_OFFLINE="1")
    # the instructor: `make warm` into the shared cache
    teacher = run(STUDENT, {**env, "AELIB_CACHE_DIR": str(shared_cache)}, elsewhere, "teacher")
    assert teacher["aelib"].startswith(str(installed)) and teacher["passed"]
    os.chmod(shared_cache, 0o555)
    package = snapshot(installed)
    shared = snapshot(shared_cache), snapshot(shared_data)
    try:
        student = run(STUDENT, {**env, "AELIB_SHARED_CACHE": str(shared_cache)}, elsewhere,
                      "student")
    finally:
        os.chmod(shared_cache, 0o755)
    assert student["aelib"] == str(installed / "aelib" / "__init__.py")
    assert student["exercises"].startswith(str(installed / "aelib" / "exercises"))
    assert student["n_train"] == 24 and "shared folder" in student["source"]
    assert student["shared_loss"] == teacher["shared_loss"]  # loaded from the shared cache
    assert student["own_epochs"] == 1 and student["passed"]
    # where a student's files go: per-user folders under HOME, never the package
    own = home / ".cache" / "aelib" / "checkpoints"
    assert student["cache"] == str(own) and student["data"] == str(home / ".local/share/aelib")
    assert [p.name.split("-")[0] for p in own.glob("*.pt")] == ["mine"]
    assert snapshot(installed) == package
    assert (snapshot(shared_cache), snapshot(shared_data)) == shared
    assert not list(elsewhere.iterdir())  # nothing in the current folder either


def test_an_installed_copy_prepares_its_data_in_the_users_folder(installed, tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    system = write_raw(tmp_path / "system", make_idx_set(12, 4), gz=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AELIB_", "XDG_", "PYTHON"))}  # fmt: skip
    env.update(HOME=str(home), PYTHONPATH=str(installed), AELIB_SYSTEM_DATA_DIR=str(system),
               AELIB_OFFLINE="1")
    code = ("import json, aelib; ds = aelib.load_dataset(); "
            "print(json.dumps({'n': len(ds.x_train), 'data': str(aelib.data.data_dir())}))")
    package = snapshot(installed)
    out = run(code, env, elsewhere)
    raw = home / ".local" / "share" / "aelib" / "FashionMNIST" / "raw"
    assert out == {"n": 12, "data": str(home / ".local" / "share" / "aelib")}
    assert len(list(raw.glob("*-ubyte"))) == 4
    assert snapshot(installed) == package
