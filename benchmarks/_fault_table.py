"""Issue 18's closing table, measured: each bad input or fault tried on two aelib trees.

Every case runs in a fresh interpreter with ``PYTHONPATH`` set to a tree (``--before``,
default /work/main, and ``--after``, default this checkout), in a temporary folder of its
own, with bytecode writing off (the trees are only read). A case prints one OUTCOME line:
what the user got (a result, a sentence, a traceback's last line, a hang). Not a test and
not a benchmark (``make bench`` skips files that start with ``_``):

    python benchmarks/_fault_table.py [--before /work/main] [--after .] [--only WORD]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = r'''
import contextlib, errno, gzip, io, json, os, sys, time, builtins
from pathlib import Path
import numpy as np
import torch, torch.nn.functional as F
T = Path(sys.argv[1])
os.environ.update(AELIB_CACHE_DIR=str(T / "cache"), AELIB_DATA_DIR=str(T / "data"),
                  AELIB_SYSTEM_DATA_DIR="", AELIB_OFFLINE="1")
import aelib
from aelib import models as M

def mse(m, x):
    return F.mse_loss(m(x), x)

def toy(n=64):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))

def ae(seed=0):
    torch.manual_seed(seed)
    return M.Autoencoder()

def tol(name="ae", model=None, x=None, loss=mse, **kw):
    kw = {"num_epochs": 1, "batch_size": 32, "progress": False, **kw}
    return aelib.train_or_load(name, model or ae(), toy() if x is None else x, loss, **kw)

def pts():
    return sorted((T / "cache").glob("*.pt"))

def asides():
    return sorted((T / "cache").glob("*.rejected-*"))

def err(e):
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:150]}" if text else type(e).__name__

@contextlib.contextmanager
def said():
    """What the library printed or logged meanwhile (stdout and stderr), as one string."""
    buf = io.StringIO()
    box = {"text": ""}
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            yield box
        finally:
            box["text"] = " ".join(buf.getvalue().split())

def out(text):
    print("OUTCOME", " ".join(str(text).split()))

def idx_bytes(a):
    magic = (0x08 << 8) | a.ndim
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape) + \
        a.astype(np.uint8).tobytes()

def system_copy(folder):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28)),
             "train-labels-idx1-ubyte": rng.integers(0, 10, 12),
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28)),
             "t10k-labels-idx1-ubyte": rng.integers(0, 10, 4)}
    folder.mkdir(parents=True, exist_ok=True)
    for k, v in files.items():
        (folder / f"{k}.gz").write_bytes(gzip.compress(idx_bytes(v), mtime=0))
    os.environ["AELIB_SYSTEM_DATA_DIR"] = str(folder)
'''

CASES: list[tuple[str, str, str]] = [
    # ------------------------------------------------------------- silent wrong results
    ("silent wrong result", "a diverging training (NaN loss) through train_or_load", r'''
calls = [0]
def nan_later(m, x):
    calls[0] += 1
    return mse(m, x) * (float("nan") if calls[0] >= 2 else 1.0)  # from the second batch
try:
    tol(loss=nan_later)
    out(f"trained; cached {len(pts())} checkpoint(s) with NaN weights")
except Exception as e:
    out(f"{err(e)}; cached {len(pts())}")
'''),
    ("silent wrong result", "a checkpoint with NaN weights in the cache", r'''
tol()
(p,) = pts()
m = ae(); sd = m.state_dict(); sd["decoder.linear3.bias"][0] = float("nan")
torch.save(sd, p)
with said() as s:
    m2 = ae(1); tol(model=m2)
nan = any(bool(v.isnan().any()) for v in m2.state_dict().values())
out(f"loaded, NaN weights in the model: {nan}" if nan
    else f"refused and retrained: {s['text'][:150]}")
'''),
    ("silent wrong result", "images (N, 28, 28) into fit", r'''
try:
    h = aelib.fit(ae(), toy().squeeze(1), mse, num_epochs=1, progress=False)
    out(f"trained without complaint (loss {h.loss[-1]:.3f}, broadcast (B,B,28,28))")
except Exception as e:
    out(err(e))
'''),
    ("silent wrong result", "images with values 0-255 into fit", r'''
try:
    h = aelib.fit(ae(), toy() * 255, mse, num_epochs=1, progress=False)
    out(f"trained without complaint (loss {h.loss[-1]:.1f})")
except Exception as e:
    out(err(e))
'''),
    ("silent wrong result", "a loss that reads a global, changed between runs", r'''
SCALE = 1.0
def scaled(m, x):
    return SCALE * mse(m, x)
tol(loss=scaled)
SCALE = 0.0
tol(loss=scaled)
out(f"{len(pts())} checkpoint(s): " + ("the old model was loaded" if len(pts()) == 1
                                      else "retrained for the new value"))
'''),
    ("silent wrong result", "a loss whose closure value changed (beta sweep)", r'''
def make(beta):
    def loss(m, x):
        return beta * mse(m, x)
    return loss
tol(loss=make(1.0)); tol(loss=make(4.0))
out(f"{len(pts())} checkpoint(s): " + ("beta=4 loaded beta=1's model" if len(pts()) == 1
                                      else "retrained for the new value"))
'''),
    ("silent wrong result", "AELIB_STRICT_DATA=true", r'''
os.environ["AELIB_STRICT_DATA"] = "true"
try:
    with said():
        ds = aelib.load_dataset("fashion-mnist")
    out(f"ignored: fell back to {ds.name}")
except Exception as e:
    out(err(e))
'''),
    ("silent wrong result", "AELIB_OFFLINE=yes (no download wanted)", r'''
os.environ["AELIB_OFFLINE"] = "yes"
with said() as s:
    aelib.load_dataset("fashion-mnist")
out("ignored: tried the download" if "download failed" in s["text"] else
    "download skipped" if "skipped" in s["text"] else s["text"][:120])
'''),
    # -------------------------------------------------------------------------- lost data
    ("lost data", "two rejections of the same checkpoint in the same second", r'''
time.time = lambda: 1700000000.0
time.strftime = lambda fmt, *a: "20231114-221320"
tol()
(p,) = pts()
for content in (b"first bad file", b"second bad file"):
    p.write_bytes(content)
    with said():
        tol()
kept = sorted(a.read_bytes() for a in asides())
out(f"{len(kept)} of 2 rejected files kept: {kept}")
'''),
    ("lost data", "cache folder is a file: the trained model", r'''
(T / "cache").write_text("x")
m = ae(); before = m.decoder.linear3.bias.clone()
try:
    with said() as s:
        tol(model=m)
    out(f"model returned trained ({not torch.equal(before, m.decoder.linear3.bias)}); "
        f"said: {s['text'][:110]}")
except Exception as e:
    out(f"{err(e)} (raised after training: the model is lost to the caller)")
'''),
    ("lost data", "disk full when the checkpoint is written (os.replace ENOSPC)", r'''
real = os.replace
def full(a, b):
    raise OSError(errno.ENOSPC, "No space left on device")
os.replace = full
try:
    with said() as s:
        h = tol()
    out(f"model returned ({len(h.loss)} epoch); said: {s['text'][:120]}")
except Exception as e:
    out(f"{err(e)} (raised after training)")
'''),
    # ---------------------------------------------------- tracebacks where a sentence is due
    ("traceback", "cache folder whose parent is a regular file", r'''
(T / "blocker").write_text("x")
os.environ["AELIB_CACHE_DIR"] = str(T / "blocker" / "cache")
try:
    with said() as s:
        tol()
    out(f"returned; said: {s['text'][:130]}")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "data folder is a file (read-only location), system copy present", r'''
system_copy(T / "system")
(T / "data").write_text("x")
try:
    with said():
        aelib.load_dataset("fashion-mnist")
    out("loaded")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "aelib's marker, odd contents (state_dict is a list)", r'''
tol()
(p,) = pts()
torch.save({"format": "aelib-checkpoint-1", "model": "Autoencoder", "state_dict": [1, 2],
            "history": None, "meta": "{}"}, p)
try:
    with said() as s:
        tol()
    out(f"moved aside ({len(asides())}) and retrained; said: {s['text'][:100]}")
except Exception as e:
    out(f"{err(e)}; moved aside: {len(asides())} (every rerun crashes the same way)")
'''),
    ("traceback", "aelib's marker, history without its keys", r'''
tol()
(p,) = pts()
torch.save({"format": "aelib-checkpoint-1", "model": "Autoencoder",
            "state_dict": ae().state_dict(), "history": {"loss": [1.0]}, "meta": "{}"}, p)
try:
    with said() as s:
        tol()
    out(f"moved aside ({len(asides())}) and retrained; said: {s['text'][:100]}")
except Exception as e:
    out(f"{err(e)}; moved aside: {len(asides())}")
'''),
    ("traceback", "AELIB_DEVICE=cuda on a machine without one", r'''
os.environ["AELIB_DEVICE"] = "cuda"
try:
    d = aelib.setup(plots=False); M.Autoencoder().to(d)(toy(2))
    out(f"ran on {d}")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "AELIB_DEVICE=nonsense", r'''
os.environ["AELIB_DEVICE"] = "nonsense"
try:
    out(f"device {aelib.setup(plots=False)}")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "AELIB_DEVICE=CPU", r'''
os.environ["AELIB_DEVICE"] = "CPU"
try:
    out(f"device {aelib.setup(plots=False)}")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "uint8 images into a model", r'''
try:
    M.Autoencoder()((toy(2) * 255).to(torch.uint8)); out("ran")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "a loss that returns per-pixel values (no .mean())", r'''
try:
    aelib.fit(ae(), toy(), lambda m, x: (m(x) - x) ** 2, num_epochs=1, progress=False); out("ran")
except Exception as e:
    out(err(e))
'''),
    ("traceback", "two processes reject the same checkpoint at once", r'''
import subprocess
racer = T / "racer.py"
racer.write_text("""
import os, sys, time
from pathlib import Path
import torch, torch.nn.functional as F
import aelib
barrier, me = Path(sys.argv[1]), sys.argv[2]
real = os.replace
def replace(src, dst, *a, **k):
    if ".rejected-" in str(dst):
        (barrier / me).touch()
        end = time.time() + 60
        while len(list(barrier.iterdir())) < 2 and time.time() < end:
            time.sleep(0.005)
    return real(src, dst, *a, **k)
os.replace = replace
def loss(m, x):
    return F.mse_loss(m(x), x)
torch.manual_seed(0)
x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
aelib.train_or_load("race", aelib.models.Autoencoder(), x, loss, num_epochs=1, batch_size=32,
                    progress=False)
print("ok")
""")
env = dict(os.environ)
subprocess.run([sys.executable, str(racer), str(T), "x"], env=env, check=True,
               capture_output=True)
(p,) = (T / "cache").glob("race-*.pt")
p.write_bytes(b"junk")
barrier = T / "barrier"; barrier.mkdir()
procs = [subprocess.Popen([sys.executable, str(racer), str(barrier), w], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
         for w in "ab"]
res = [pr.communicate(timeout=300) for pr in procs]
codes = [pr.returncode for pr in procs]
last = [e.strip().splitlines()[-1][:90] for (o, e), c in zip(res, codes) if c != 0]
out(f"exit codes {codes}; rejected files kept {len(list((T / 'cache').glob('*.rejected-*')))}"
    + (f"; {last[0]}" if last else ""))
'''),
    # ---------------------------------------------------------------------------- hangs
    ("hang", "download from a server that accepts and never answers", r'''
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
url = f"http://127.0.0.1:{srv.getsockname()[1]}/"
from torchvision import datasets
datasets.FashionMNIST.mirrors = [url]; datasets.MNIST.mirrors = [url]
os.environ["AELIB_DATA_MIRROR"] = url
del os.environ["AELIB_OFFLINE"]
t = time.perf_counter()
with said() as s:
    ds = aelib.load_dataset("fashion-mnist")
out(f"fell back to {ds.name} after {time.perf_counter() - t:.1f} s")
'''),
    ("hang", "the notice keeps the download's cause (refused connection)", r'''
import socket
s0 = socket.socket(); s0.bind(("127.0.0.1", 0)); port = s0.getsockname()[1]; s0.close()
url = f"http://127.0.0.1:{port}/"
from torchvision import datasets
datasets.FashionMNIST.mirrors = [url]
os.environ["AELIB_DATA_MIRROR"] = url
del os.environ["AELIB_OFFLINE"]
with said() as s:
    aelib.load_dataset("fashion-mnist")
text = s["text"]
i = text.find("download failed")
out(text[i:i + 150])
'''),
    # ------------------------------------------------------------------ mislabelled causes
    ("mislabelled cause", "random bytes in a checkpoint", r'''
tol(); (p,) = pts(); p.write_bytes(os.urandom(4096))
try:
    aelib.load_checkpoint(ae(), p); out("loaded")
except Exception as e:
    out(err(e))
'''),
    ("mislabelled cause", "a healthy checkpoint the user cannot read (PermissionError)", r'''
tol(); (p,) = pts(); before = p.read_bytes()
real_open = builtins.open
def deny(f, *a, **k):
    if str(f) == str(p):
        raise PermissionError(errno.EACCES, "Permission denied", str(f))
    return real_open(f, *a, **k)
builtins.open = deny
with said() as s:
    tol()
builtins.open = real_open
moved = len(asides())
out(f"said: {s['text'][:110]}; moved aside: {moved}")
'''),
    ("mislabelled cause", "disk full while decompressing the system copy", r'''
system_copy(T / "system")
real = os.replace
def full(a, b):
    raise OSError(errno.ENOSPC, "No space left on device")
os.replace = full
try:
    aelib.load_dataset("fashion-mnist"); out("loaded")
except Exception as e:
    out(err(e))
'''),
    # ------------------------------------------------------------------------ permissions
    ("permissions", "checkpoint and data files under umask 022", r'''
os.umask(0o022)
system_copy(T / "system")
aelib.load_dataset("fashion-mnist")
tol()
modes = sorted({oct(p.stat().st_mode & 0o777) for p in [*pts(), *(T / "data").rglob("*-ubyte")]})
out(f"modes {modes}")
'''),
    # --------------------------------------------------------------------- gan logging
    ("silent wrong result", "fit_gan's D(fake): measured where D(real) is", r'''
import copy
torch.manual_seed(0); gan = M.GAN(); start = copy.deepcopy(gan); x = toy(64)
h = aelib.fit_gan(gan, x, num_epochs=1, batch_size=64, seed=5, progress=False)
torch.manual_seed(5); z = torch.randn(64, 2)
with torch.no_grad():
    ref = torch.sigmoid(start.discriminator(start.generator(z))).mean().item()
out(f"logged {h.terms['d_fake'][0]:.5f}, D before its update {ref:.5f}: "
    + ("same" if abs(h.terms["d_fake"][0] - ref) < 1e-5 else "different"))
'''),
]


def run_case(tree: Path, code: str, timeout: int) -> str:
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        script = Path(tmp) / "case.py"
        script.write_text(PRELUDE + textwrap.dedent(code))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AELIB_")}
        env.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   MPLBACKEND="Agg")  # fmt: skip
        try:
            p = subprocess.run([sys.executable, str(script), tmp], env=env, capture_output=True,
                               text=True, timeout=timeout, cwd=tmp)  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"hung: killed after {timeout} s"
        lines = [ln[8:] for ln in p.stdout.splitlines() if ln.startswith("OUTCOME ")]
        if lines:
            return lines[-1]
        last = (p.stderr.strip().splitlines() or ["(nothing)"])[-1]
        return f"traceback: {last[:160]}"


def wheel_case(tree: Path) -> str:
    """Build a wheel of ``tree`` and list what it lacks of the tree's modules."""
    with tempfile.TemporaryDirectory(prefix="wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(tree / name, src / name)
        shutil.copytree(tree / "aelib", src / "aelib",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(Path(tmp) / "w"), str(src)],
                           capture_output=True, text=True)  # fmt: skip
        if p.returncode != 0:
            return f"build failed: {p.stderr.strip().splitlines()[-1]}"
        import zipfile

        (whl,) = (Path(tmp) / "w").glob("*.whl")
        names = set(zipfile.ZipFile(whl).namelist())
        mods = {str(q.relative_to(tree)) for q in (tree / "aelib").rglob("*.py")}
        missing = sorted(mods - names)
        return (f"wheel lacks {len(missing)} of {len(mods)} modules ({missing[0]}, ...)"
                if missing else f"wheel holds all {len(mods)} modules")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, default=Path("/work/main"))
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=int, default=60)
    args = ap.parse_args()
    rows = []
    for kind, case, code in CASES:
        if args.only and args.only not in case and args.only not in kind:
            continue
        before = run_case(args.before, code, args.timeout)
        after = run_case(args.after, code, args.timeout)
        rows.append((kind, case, before, after))
        print(f"- {kind} | {case}\n    before: {before}\n    after:  {after}", flush=True)
    if not args.only or "install" in args.only:
        rows.append(("install", "a non-editable install (wheel)", wheel_case(args.before),
                     wheel_case(args.after)))  # fmt: skip
        print(f"- install | wheel\n    before: {rows[-1][2]}\n    after:  {rows[-1][3]}")
    print("\n| fault kind | case | before | after |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(c.replace("|", "/") for c in row) + " |")


if __name__ == "__main__":
    main()
