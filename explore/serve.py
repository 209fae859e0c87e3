"""Serve the latent explorer app (notebooks/09) with Voila, safely: ``make explore``.

    python explore/serve.py [--port 8866] [--notebook PATH] [--warm-if-cold]

What it does, and why:

* Prints ONE address, with a secret token: only a request that carries the token (or the
  cookie that the first such request sets) gets a page, a kernel or a websocket. The
  token is random for each start (or JUPYTER_TOKEN, for scripts), and never on a command
  line, where other users of the machine could read it.
* Listens on 127.0.0.1 only and refuses requests whose Host header is not 127.0.0.1 /
  localhost (jupyter_server's check, which Voila turns off by default): a web page cannot
  reach the server through DNS rebinding. A Content-Security-Policy lets the page load
  nothing from outside 127.0.0.1, and the page template requests nothing from outside.
* Shuts down the kernel of a closed page: the page asks for it when it is closed or
  reloaded (the template's pagehide handler), and a kernel with no open page that has
  been idle for ``--idle-timeout`` seconds is stopped (checked every ``--cull-interval``
  seconds), for pages that vanish without asking; a page that is open keeps its kernel.
  At most ``--max-kernels`` pages (about 1 GB each) run at once; one more gets a "503: too
  many pages" answer.
* Refuses to run as root unless ALLOW_ROOT=1 (as Jupyter refuses without --allow-root).
* Uses Jupyter folders of its own (build/jupyter) and the app's own page template
  (explore/voila/templates/aelib), so a user's Jupyter configuration cannot change it.
* With ``--warm-if-cold`` (``make explore``), trains the course's models first
  (``make warm``) if the model cache holds none of them, so that no page trains in front
  of the class. A cache with all three answers at once: the page's kernel loads them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
APP = ROOT / "notebooks" / "09_latent_explorer.ipynb"
# The recipes the app loads (aelib.zoo.RECIPES) and where aelib caches them
# (aelib.train.cache_dir): repeated here so that this check does not import torch.
# tests/test_explore_serve.py keeps them in step.
RECIPES = ("ae", "vae", "gan")
# Everything from 127.0.0.1 only. Voila's front end needs inline and eval'd scripts;
# images come as data: and blob: URLs, the kernel over a websocket to the same origin.
CSP = "; ".join([
    "default-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "font-src 'self' data:",
    "connect-src 'self'", "worker-src 'self' blob:", "frame-ancestors 'self'",
    "base-uri 'self'", "form-action 'self'",
])  # fmt: skip


def cache_dir() -> Path:
    """Where aelib caches trained models (AELIB_CACHE_DIR or checkpoints/)."""
    return Path(os.environ.get("AELIB_CACHE_DIR") or ROOT / "checkpoints")


def cold_recipes(folder: Path) -> list[str]:
    """The recipes of which ``folder`` holds no checkpoint at all."""
    return [name for name in RECIPES if not any(folder.glob(f"{name}-*.pt"))]


def cap_kernels(max_kernels: int, idle_timeout: int) -> Callable[..., None]:
    """A Voila prelaunch hook that answers 503 once ``max_kernels`` kernels are running."""
    import tornado.web

    def hook(handler: Any, notebook: Any = None, cwd: str | None = None) -> None:
        running = len(handler.kernel_manager.list_kernel_ids())
        if running >= max_kernels:
            raise tornado.web.HTTPError(
                503,
                f"{running} explorer pages are open, the most this server runs at once. "
                f"Close one: its kernel stops after {idle_timeout} s without a page. "
                "Or restart the server with a larger --max-kernels.",
                reason="Too many explorer pages",
            )

    return hook


def voila_config(token: str, port: int, idle_timeout: int, cull_interval: int,
                 max_kernels: int) -> Any:  # fmt: skip
    """The Voila and jupyter_server settings of the app (a traitlets Config)."""
    from traitlets.config import Config

    c = Config()
    c.Voila.ip = "127.0.0.1"
    c.Voila.port = port
    c.Voila.port_retries = 0  # the printed address is the one served, or nothing
    c.Voila.open_browser = False
    c.Voila.token = token
    c.Voila.log_level = "WARN"  # the terminal shows the address, warnings and errors
    c.Voila.config_file_paths = []  # no voila.py/json from elsewhere changes the app
    c.Voila.tornado_settings = {
        "allow_remote_access": False,  # Host must be 127.0.0.1 or localhost
        "local_hostnames": ["localhost"],
        "headers": {"Content-Security-Policy": CSP},
        "ws_ping_timeout": 30_000,  # ms; jupyter_server's 3 x interval makes tornado complain
    }
    c.VoilaConfiguration.template = "aelib"
    c.VoilaConfiguration.theme = "light"
    c.VoilaConfiguration.allow_template_override = "NO"
    c.VoilaConfiguration.allow_theme_override = "NO"
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.file_allowlist = []  # nothing of the notebook folder is served
    c.VoilaConfiguration.prelaunch_hook = cap_kernels(max_kernels, idle_timeout)
    c.MappingKernelManager.cull_idle_timeout = idle_timeout
    c.MappingKernelManager.cull_interval = cull_interval
    c.MappingKernelManager.cull_connected = False  # a page that is open keeps its kernel
    c.MappingKernelManager.cull_busy = False
    c.KernelManager.transport = "ipc"  # kernels on local sockets in a private folder, not TCP
    return c


def trust(notebook: Path) -> None:
    """Sign the app's notebook in the app's own Jupyter data folder.

    Its committed outputs are the still pictures that the page shows while the kernel
    starts (and that Voila would otherwise call untrusted in the terminal).
    """
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(notebook, as_version=4)
    notary = NotebookNotary(data_dir=os.environ["JUPYTER_DATA_DIR"])
    if not notary.check_signature(nb):
        notary.sign(nb)


def jupyter_dirs(base: Path) -> dict[str, str]:
    """Environment variables that give Voila and its kernels Jupyter folders of their own."""
    env = {"JUPYTER_PATH": str(HERE)}  # finds voila/templates/aelib
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):  # fmt: skip
        (base / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(base / sub)
    return env


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8866)
    ap.add_argument("--notebook", type=Path, default=APP)
    ap.add_argument("--idle-timeout", type=int, default=300,
                    help="seconds a kernel without a page may stay idle (default 300)")
    ap.add_argument("--cull-interval", type=int, default=30,
                    help="seconds between checks for such kernels (default 30)")
    ap.add_argument("--max-kernels", type=int, default=4,
                    help="pages (kernels) at once, about 1 GB each (default 4)")
    ap.add_argument("--jupyter-dir", type=Path, default=ROOT / "build" / "jupyter")
    ap.add_argument("--warm-if-cold", action="store_true",
                    help="train the models first (make warm) if the cache holds none of them")
    args = ap.parse_args(argv)

    if os.geteuid() == 0 and os.environ.get("ALLOW_ROOT") != "1":
        print("Refusing to serve the explorer as root: a kernel would run with root's rights. "
              "Run it as a normal user, or set ALLOW_ROOT=1 (e.g. in a container).",
              file=sys.stderr)  # fmt: skip
        return 2
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        print(f"No notebook at {notebook}.", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536 or not port_is_free(args.port):
        print(f"Port {args.port} is not free on 127.0.0.1: pick another, e.g. "
              f"make explore PORT={args.port + 1}.", file=sys.stderr)  # fmt: skip
        return 2
    if args.idle_timeout < 1 or args.cull_interval < 1 or args.max_kernels < 1:
        print("--idle-timeout, --cull-interval and --max-kernels must be at least 1.",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.warm_if_cold:
        cold = cold_recipes(cache_dir())
        if cold:
            print(f"No trained {', '.join(cold)} in {cache_dir()}: training the course's "
                  "models once (make warm), before serving.", flush=True)  # fmt: skip
            subprocess.run([sys.executable, "-m", "aelib.zoo"], check=True, cwd=ROOT)

    token = os.environ.pop("JUPYTER_TOKEN", "") or secrets.token_urlsafe(24)
    os.environ.update(jupyter_dirs(args.jupyter_dir.resolve()))
    trust(notebook)
    config = voila_config(token, args.port, args.idle_timeout, args.cull_interval,
                          args.max_kernels)  # fmt: skip
    print(f"The latent explorer: http://127.0.0.1:{args.port}/?token={token}", flush=True)
    print("(only this address opens it; stop the server with Ctrl+C)", flush=True)

    from voila.app import Voila

    Voila.launch_instance(argv=[str(notebook)], config=config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
