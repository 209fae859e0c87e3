"""The students' path: JupyterLab started exactly as `make lab` starts it, in Chromium.

Checks issue 17.1-3: the lecture diagrams (../image/*.png) load, and the committed widget
outputs render (notebook trusted) instead of showing their text repr, before any cell runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import LOCAL

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/02_autoencoder.ipynb"
TOKEN = "aelib-lab-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    """`make lab`'s command and config (jupyter/), a fresh data dir, a free port, a token."""
    data = tmp_path_factory.mktemp("jupyter-data")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(ROOT / "jupyter"), JUPYTER_DATA_DIR=str(data),
               OMP_NUM_THREADS="1")  # fmt: skip
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run([str(jupyter), "trust", NOTEBOOK], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    port = _free_port()
    flags = ["--allow-root"] if os.geteuid() == 0 else []  # = ALLOW_ROOT=1 under make
    cmd = [sys.executable, "-m", "jupyterlab", *flags, "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("jupyterlab exited at start")
                time.sleep(0.5)
        else:
            pytest.fail("jupyterlab did not answer within 60 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_lab_notebook_renders_diagrams_and_widgets(browser, lab_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL) else r.abort())
    try:
        page.goto(f"{lab_url}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-RenderedMarkdown img", timeout=60_000)
        # Lab renders cells lazily: scroll through so every cell's outputs are attached.
        for _ in range(30):
            page.mouse.wheel(0, 1500)
            page.wait_for_timeout(150)
        page.wait_for_timeout(1500)
        imgs = page.eval_on_selector_all(
            ".jp-RenderedMarkdown img",
            "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])",
        )
        assert imgs, "no diagram on the page"
        broken = [src for src, _, w in imgs if w == 0]
        assert not broken, f"diagrams that did not load: {broken}"
        text = page.inner_text(".jp-Notebook")
        for repr_text in ("LatentExplorer(children=", "HBox(children="):
            assert repr_text not in text, f"widget repr shown before running: {repr_text}"
        # the saved widget state rendered as widgets (trusted notebook), not as text
        assert page.locator(".jupyter-widgets").count() > 0, "no widget rendered before running"
        page.screenshot(path=str(tmp_path / "lab_02.png"))
    finally:
        page.close()
