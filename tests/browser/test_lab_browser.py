"""The students' path: JupyterLab started exactly as `make lab` starts it, in Chromium.

Checks issue 17.1-3: the lecture diagrams (../image/*.png) load, and the committed widget
outputs render (notebook trusted) as widgets, not as their text repr, before any cell runs
(Lab restores them from the notebook's metadata once the kernel is up); then, as a student
does, the explorer cell runs (with every cell above it, through the Run menu) and a slider
moved with the keyboard changes the decoded pixels (read from a canvas), which come back
when the slider moves back. The one model it needs ("ae") comes from the checkout's
checkpoints/ cache, warmed in a subprocess while the server starts.
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
from tests.browser.pages import move_and_return

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/02_autoencoder.ipynb"
TOKEN = "aelib-lab-test"
EXPLORER = "aelib.widgets.latent_explorer(model.decoder"  # the explorer cell's source
# Loads (or, on a cold cache, trains) the model the explorer cell needs, as the notebook does.
WARM = (
    "import aelib; aelib.setup(seed=0, plots=False); "
    "aelib.zoo.pretrained('ae', aelib.load_dataset(), progress=False)"
)


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
    warm = subprocess.Popen([sys.executable, "-c", WARM], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    # The test's own lab settings and workspaces (not the checkout's build/jupyter-data), with
    # autosave off: restoring widgets and running cells must never rewrite the committed file.
    user = data / "user-settings"
    (user / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (user / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        '{"autosave": false}'
    )
    port = _free_port()
    flags = ["--allow-root"] if os.geteuid() == 0 else []  # = ALLOW_ROOT=1 under make
    cmd = [sys.executable, "-m", "jupyterlab", *flags, "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--LabApp.user_settings_dir={user}",
           f"--LabApp.workspaces_dir={data / 'workspaces'}"]  # fmt: skip
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
        out, _ = warm.communicate(timeout=900)
        assert warm.returncode == 0, f"warming the 'ae' model failed:\n{out.decode()[-3000:]}"
        yield base
    finally:
        if warm.poll() is None:
            warm.kill()
            warm.wait()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_lab_notebook_renders_diagrams_and_widgets_and_slider_moves(browser, lab_url, tmp_path):
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
        # The saved widget state renders as widgets (trusted notebook), not as text. Lab's
        # widget manager restores it from the notebook's metadata only once the kernel has
        # started, so wait for that (slow on a loaded 2-core machine), not a fixed delay.
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jupyter-widgets')]"
                ".some(e => !e.textContent.includes('model not found'))",
                timeout=180_000,
            )
        except Exception as exc:
            page.screenshot(path=str(tmp_path / "lab_02_no_widget.png"))
            widget_outputs = page.locator(
                "[data-mime-type='application/vnd.jupyter.widget-view+json']"
            ).all_inner_texts()
            raise AssertionError(
                f"no widget rendered before running; the widget outputs read {widget_outputs}"
            ) from exc
        not_found = page.locator(".jupyter-widgets", has_text="model not found").count()
        assert not_found == 0, f"{not_found} saved widget views lost their model"
        page.locator(".aelib-latent-explorer").first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "lab_02.png"))

        # As a student: select the explorer cell, run every cell above it, then the cell.
        cell = page.locator(".jp-CodeCell", has_text=EXPLORER)
        assert cell.count() == 1, f"{cell.count()} cells hold {EXPLORER!r}"
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()  # selects the cell (command mode)
        for item in ("Run All Above Selected Cell", "Run Selected Cell"):
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text=item).first.click()
        # The committed output is a disconnected copy; the live one replaces it once the cell ran.
        root = cell.locator(".aelib-latent-explorer:not(.jupyter-widgets-disconnected)")
        try:
            root.locator("img.aelib-decoded").wait_for(timeout=300_000)
        except Exception as exc:  # say which cell failed (the later ones then never run)
            page.screenshot(path=str(tmp_path / "lab_02_ran.png"))
            errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
            tracebacks = [e for e in errors.all_inner_texts() if "Error" in e]
            raise AssertionError(f"the explorer cell did not run: {tracebacks[-1:]}") from exc
        root.scroll_into_view_if_needed()
        move = move_and_return(page, root, slider=0, presses=5)
        page.screenshot(path=str(tmp_path / "lab_02_moved.png"))
        assert move.every_image_changed_and_came_back, move
    finally:
        page.close()
