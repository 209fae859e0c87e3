"""Fixtures for the real-browser tests: an isolated Jupyter, Voila, and Debian's Chromium.

Voila serves a notebook on 127.0.0.1 from a free port; the server starts in a fixture and
is stopped (by its process id) in the teardown. Every Jupyter and IPython folder points
into the test's own temporary directory, so Voila uses its own offline template rather
than whatever a user's configuration asks for (the lab template of some set-ups loads
require.js from a CDN and never renders offline). Every request that does not go to
127.0.0.1 is aborted and counted (``external_requests``), together with the requests
that the app's Content-Security-Policy refused. Without Chromium the tests skip with the
reason, except on CI (CI=true), where they fail: .ci/run installs Chromium.

``serve_voila`` starts plain Voila; ``serve_app`` starts it the way ``make explore`` does
(explore/serve.py: token, host check, kernel culling and cap, the app's page template).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import in_ci

CHROMIUM = os.environ.get("AELIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "blob:", "data:")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (never `playwright install`), or skip/fail as above."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment for Voila and its kernels: Jupyter folders the test owns."""
    env = dict(os.environ)
    for var, sub in (("JUPYTER_PATH", "path"), ("JUPYTER_CONFIG_DIR", "config"),
                     ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("IPYTHONDIR", "ipython")):  # fmt: skip
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(root / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextlib.contextmanager
def serve_voila(notebook: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve ``notebook`` with Voila on 127.0.0.1; yield its URL; stop it afterwards."""
    port = free_port()
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True"]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=notebook.parent, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # a TCP probe: a GET would already start a kernel
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Voila did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        try:
            yield f"http://127.0.0.1:{port}/"
        except Exception as exc:  # say what the server saw, e.g. a notebook error
            tail = log.read_text()[-4000:]
            raise AssertionError(f"{exc}\n--- Voila log (tail) ---\n{tail}") from exc
    finally:
        proc.send_signal(signal.SIGTERM)  # Voila shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: Voila and its kernels
            proc.wait()


def new_page(browser, viewport: dict | None = None):
    """A page that aborts and counts every request not to 127.0.0.1 and records its
    websocket frames (``page.ws_sent``) and the requests a CSP refused (``page.refused``)."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 1000})
    blocked: list[str] = []

    def local_only(route) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.blocked = blocked
    page.refused = []  # "Refused to load ... Content Security Policy" console messages
    page.console = []
    page.ws_sent = []  # (time, payload) of every websocket frame the page sends

    def console(msg) -> None:
        page.console.append(f"{msg.type}: {msg.text}")
        if "Content Security Policy" in msg.text:
            page.refused.append(msg.text)

    def record(ws) -> None:
        ws.on("framesent", lambda p: page.ws_sent.append(
            (time.monotonic(), p.encode() if isinstance(p, str) else p)))

    page.on("console", console)
    page.on("websocket", record)
    return page


def external_requests(page) -> list[str]:
    """Requests the page tried to send outside 127.0.0.1 (aborted or refused by the CSP)."""
    return [*page.blocked, *page.refused]


def open_page(browser, url: str, ready: str, timeout_s: float = 180, viewport: dict | None = None):
    """A page on ``url`` with every non-local request aborted, once ``ready`` is shown."""
    page = new_page(browser, viewport)
    page.goto(url, timeout=timeout_s * 1e3)
    try:
        page.wait_for_selector(ready, timeout=timeout_s * 1e3)
    except Exception as exc:  # show what the page shows instead, e.g. a traceback
        text = page.inner_text("body")[-3000:]
        raise AssertionError(f"{ready} did not appear: {exc}\n--- page ---\n{text}") from exc
    return page


# ------------------------------------------------------------------ the app's own server

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "explore" / "serve.py"


@dataclass
class App:
    """A running explore/serve.py: its address, secret token and log."""

    port: int
    token: str
    log: Path
    pid: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The address that make explore prints: with the token."""
        return f"{self.base}?token={self.token}"

    def request(self, path: str = "", method: str = "GET", token: bool = True,
                headers: dict | None = None) -> tuple[int, dict, bytes]:  # fmt: skip
        """(status, headers, body) of one request, redirects not followed."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"token {self.token}"
        req = urllib.request.Request(self.base + path, method=method, headers=hdrs)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=60) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def has_kernel(self, kernel_id: str) -> bool:
        """Whether the server still runs that kernel (Voila serves no list of kernels)."""
        status, _, body = self.request(f"api/kernels/{kernel_id}")
        assert status in (200, 404), (status, body[:300])
        return status == 200

    def kernel_processes(self) -> int:
        """How many kernel processes the server has started and not yet stopped."""
        children, stack = [], [self.pid]
        while stack:
            parent = stack.pop()
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == parent:
                        children.append(int(stat.parent.name))
                        stack.append(int(stat.parent.name))
        cmdlines = []
        for pid in children:
            with contextlib.suppress(OSError):
                cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        return sum(b"ipykernel" in c for c in cmdlines)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@contextlib.contextmanager
def serve_app(notebook: Path, env: dict[str, str], folder: Path, *options: str) -> Iterator[App]:
    """Serve ``notebook`` as make explore does (explore/serve.py); stop it afterwards.

    ``options`` go to serve.py (e.g. "--idle-timeout", "15"). The token is fixed here
    (JUPYTER_TOKEN) so the tests know it; ALLOW_ROOT=1 because CI runs as root.
    """
    port, token = free_port(), "t" + os.urandom(12).hex()
    log = folder / "serve.log"
    cmd = [sys.executable, str(SERVE), "--port", str(port), "--notebook", str(notebook),
           "--jupyter-dir", str(folder / "jupyter"), *options]  # fmt: skip
    env = {**env, "JUPYTER_TOKEN": token, "ALLOW_ROOT": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # a TCP probe: a GET would already start a kernel
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"explore/serve.py did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        try:
            yield App(port, token, log, proc.pid)
        except Exception as exc:  # say what the server saw, e.g. a notebook error
            tail = log.read_text()[-4000:]
            raise AssertionError(f"{exc}\n--- server log (tail) ---\n{tail}") from exc
    finally:
        proc.send_signal(signal.SIGTERM)  # Voila shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: Voila and its kernels
            proc.wait()
