"""The explorers in a real browser: the app's server (explore/serve.py) serves them,
Playwright drives Chromium.

A notebook generated into a temporary folder, with tiny deterministic decoders (no
training, no data): the z1 slider changes the decoded pixels and moving it back restores
them; the compare explorer updates every panel; a decoder that ignores z makes the same
check report "no change" (the negative control); a slow decoder shows that a fast drag
does not queue redraws. The instructor's app itself, notebooks/09, is tested in
test_explorer_app.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tests.browser.conftest import external_requests, jupyter_env, open_page, serve_app
from tests.browser.pages import move_and_return, readout_value

SLOW_S = 0.25  # seconds per decode of the slow decoder

SETUP = """\
import time
import torch
from aelib import models, widgets as AW


class Waves(torch.nn.Module):
    \"\"\"A tiny deterministic decoder: stripes whose angle and phase follow z.\"\"\"

    latent_dims = 2

    def forward(self, z):
        u = torch.linspace(-1, 1, 28)
        yy, xx = torch.meshgrid(u, u, indexing="ij")
        z1, z2 = z[:, 0, None, None], z[:, 1, None, None]
        return (0.5 + 0.5 * torch.sin(4 * (xx * z1 + yy * z2) + 3 * z1)).unsqueeze(1)


class IgnoresZ(torch.nn.Module):
    \"\"\"The negative control: the same image for every z.\"\"\"

    latent_dims = 2

    def forward(self, z):
        return torch.full((len(z), 1, 28, 28), 0.5)


class Slow(torch.nn.Module):
    latent_dims = 2

    def forward(self, z):
        time.sleep(SLOW_S)
        return Waves()(z)


torch.manual_seed(0)
mlp = models.Decoder().eval()  # an untrained lecture decoder: the real torch path
codes = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
labels = torch.arange(2000) % 10
"""


def make_test_notebook(folder: Path) -> Path:
    cells = [
        "# Explorer test page",
        SETUP.replace("SLOW_S", repr(SLOW_S)),
        "AW.latent_explorer(Waves(), codes, labels, list('abcdefghij'))",
        "AW.compare_explorer({'waves': Waves(), 'mlp': mlp})",
        "AW.latent_explorer(IgnoresZ())",
        "AW.latent_explorer(Slow())",
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell(cells[0])]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells[1:]]
    path = folder / "explorer_test.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def test_page(browser, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voila-test-page")
    notebook = make_test_notebook(tmp)
    with serve_app(notebook, jupyter_env(tmp / "jupyter"), tmp) as app:
        page = open_page(browser, app.url, ".aelib-latent-explorer >> nth=2")
        yield page
        assert external_requests(page) == [], "no request leaves 127.0.0.1"
        page.close()


def test_z1_changes_the_decoded_pixels_and_moving_back_restores_them(test_page):
    root = test_page.locator(".aelib-latent-explorer").nth(0)
    move = move_and_return(test_page, root, slider=0, presses=5)
    assert readout_value(move.readouts[1]) > readout_value(move.readouts[0])
    assert move.every_image_changed_and_came_back, move


def test_compare_explorer_updates_every_panel(test_page):
    root = test_page.locator(".aelib-compare-explorer").first
    move = move_and_return(test_page, root, slider=1, presses=3)
    assert len(move.changed) == 2, "two decoded panels"
    assert move.every_image_changed_and_came_back, move


def test_negative_control_a_decoder_that_ignores_z_reports_no_change(test_page):
    root = test_page.locator(".aelib-latent-explorer").nth(1)
    move = move_and_return(test_page, root, slider=0, presses=5, settle_s=1.5)
    # The kernel handled the move (move_and_return waited for its readout), yet:
    assert move.changed == [False], "the check must be able to fail"
    assert not move.every_image_changed_and_came_back


def test_a_fast_drag_does_not_queue_redraws(test_page):
    """20 key presses on a decoder that takes SLOW_S per decode: no backlog of redraws.

    Queued, the kernel would decode 20 times (20 * SLOW_S = 5 s after the drag). The
    ipywidgets front end keeps one update in flight and replaces the buffered one, so
    at most one update per SLOW_S of pressing reaches the kernel (plus the first and
    the last), and the image settles on the final value within about 2 * SLOW_S.
    """
    page, presses = test_page, 20
    root = page.locator(".aelib-latent-explorer").nth(2)
    handle = root.locator(".widget-slider .noUi-handle").first
    readout = root.locator(".widget-readout").first
    page.ws_sent.clear()
    start = readout_value(readout.inner_text())
    handle.focus()
    t0 = time.monotonic()
    for _ in range(presses):
        handle.press("ArrowRight")
    pressing = time.monotonic() - t0
    final = readout_value(readout.inner_text())
    assert final > start
    page.wait_for_function(
        """([el, want]) => {
             const z = (el.textContent.match(/[+-]\\d+\\.\\d+/g) || [])[0];
             return z !== undefined && Math.abs(parseFloat(z) - want) < 1e-9;
           }""",
        arg=[root.locator(".aelib-readout").element_handle(), final], timeout=30_000,
    )  # fmt: skip
    after_last_press = time.monotonic() - t0 - pressing
    # Anything still buffered would be sent now. (Playwright delivers the frame events
    # only while we call it: wait with wait_for_timeout, not time.sleep.)
    page.wait_for_timeout(4 * SLOW_S * 1e3)
    sent = [t for t, payload in page.ws_sent if b"comm_msg" in payload]
    bound = 2 + pressing / SLOW_S
    assert 1 <= len(sent) <= bound, f"{len(sent)} updates for {presses} presses in {pressing:.2f} s"
    assert after_last_press < 3 * SLOW_S + 1.0, f"settled {after_last_press:.2f} s after the drag"
