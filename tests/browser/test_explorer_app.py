"""The instructor's app in a real browser, served as ``make explore`` serves it (issue 16).

One server for the module (explore/serve.py on notebooks/09, its model cache seeded by one
quick epoch per model, about 10 s instead of minutes of training) and one page at
1920x1080 that the tests share, in this order: what the page showed while the kernel
started, sizes at 1920x1080 and 1280x720, clicks and drags on the scatter, presets,
keyboard steps, the comparison and the interpolation, the page's text and requests, the
token and the host check, the cap on kernels and the culling of a closed page's kernel,
and last (it stops the page's kernel) the still fallback.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aelib.widgets import SCATTER_FONT_PX, SCATTER_PX
from tests.browser.conftest import external_requests, jupyter_env, new_page, serve_app
from tests.browser.pages import (
    font_px,
    kernel_id,
    kernel_readout,
    move_and_return,
    read_decoded,
    readout_value,
    rect,
    wait_for_readout_change,
    websocket_status,
)

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "notebooks" / "09_latent_explorer.ipynb"
IDLE_S, CULL_S, MAX_KERNELS = 15, 2, 2  # short, so the culling test takes seconds
EXPLORERS = 4  # AE, VAE, the comparison, the interpolation

SEED_CACHE = """
import aelib
import aelib.train as T
from aelib import zoo

def quick(real):
    def run(model, x, *args, **kw):  # one epoch on 4,096 images: weights, not quality
        kw.update(num_epochs=1, progress=False)
        return real(model, x[:4096], *args, **kw)
    return run

T.fit, T.fit_gan = quick(T.fit), quick(T.fit_gan)
zoo.warm(aelib.load_dataset())
"""


@pytest.fixture(scope="module")
def app(chromium_path, tmp_path_factory):
    """explore/serve.py on notebooks/09, with a seeded cache and short culling times."""
    tmp = tmp_path_factory.mktemp("explorer-app")
    env = jupyter_env(tmp / "seed-jupyter", AELIB_CACHE_DIR=str(tmp / "cache"))
    subprocess.run([sys.executable, "-c", textwrap.dedent(SEED_CACHE)], env=env, check=True,
                   cwd=ROOT, capture_output=True, timeout=1200)  # fmt: skip
    assert len(list((tmp / "cache").glob("*.pt"))) == 3
    options = ("--idle-timeout", str(IDLE_S), "--cull-interval", str(CULL_S),
               "--max-kernels", str(MAX_KERNELS))  # fmt: skip
    with serve_app(APP, env, tmp, *options) as served:
        yield served


@pytest.fixture(scope="module")
def app_page(browser, app):
    """The app at 1920x1080; what it showed before its kernel ran is kept in ``starting``."""
    page = new_page(browser, {"width": 1920, "height": 1080})
    t0 = time.monotonic()
    page.goto(app.url, wait_until="commit", timeout=120_000)
    page.wait_for_selector("img.aelib-still", timeout=60_000)
    page.starting = {
        "stills": page.locator("img.aelib-still:visible").count(),
        "status": page.inner_text("#aelib-status"),
        "live": page.locator("body.aelib-live").count(),
    }
    try:
        page.wait_for_selector("body.aelib-live", timeout=240_000)
        page.wait_for_selector(".aelib-interpolation-player img.aelib-decoded", timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"the app did not go live: {exc}\n{page.inner_text('body')[-2000:]}"
                             f"\n{app.log.read_text()[-3000:]}") from exc  # fmt: skip
    page.live_after_s = time.monotonic() - t0
    yield page
    page.close()


def at_top(page, width: int, height: int) -> None:
    """Resize the viewport and scroll every scrolling element back to the top."""
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("for (const el of [document.scrollingElement, ...document.querySelectorAll('*')])"
                  " { if (el && el.scrollTop) { el.scrollTop = 0; } }")  # fmt: skip
    page.wait_for_timeout(300)


def explorer(page, kind: str, n: int = 0):
    return page.locator(f".aelib-{kind}").nth(n)


def test_the_committed_pictures_show_while_the_kernel_starts(app_page):
    page = app_page
    assert page.starting["live"] == 0, "not live before the kernel ran"
    assert page.starting["stills"] == EXPLORERS, "a still picture of each explorer"
    assert "sliders are unavailable" in page.starting["status"]
    assert page.locator("img.aelib-still:visible").count() == 0, "hidden once live"


def test_at_1920x1080_text_is_large_and_images_are_at_least_400_px(app_page):
    page = app_page
    at_top(page, 1920, 1080)
    for what in (".widget-slider .widget-label", ".widget-readout", ".aelib-preset",
                 ".aelib-readout", ".aelib-help"):  # fmt: skip
        items = page.locator(f".aelib-presentation {what}")
        assert items.count() >= 2, what
        sizes = [font_px(items.nth(i)) for i in range(items.count())]
        assert min(sizes) >= 20, (what, sizes)
    decoded = page.locator("img.aelib-decoded")
    assert decoded.count() == 2 + 3 + 2, "AE, VAE, three compared, two interpolated"
    widths = [rect(decoded.nth(i))["width"] for i in range(decoded.count())]
    assert min(widths) >= 400, widths
    for i in range(EXPLORERS):
        assert rect(page.locator(".aelib-explorer").nth(i))["width"] >= 0.9 * 1920, "full width"
    # the scatter is rendered with SCATTER_FONT_PX text at SCATTER_PX rows; as shown:
    scatter = rect(explorer(page, "latent-explorer").locator("img.aelib-scatter"))
    assert SCATTER_FONT_PX * scatter["height"] / SCATTER_PX >= 20, scatter


def test_at_1280x720_the_first_decoded_image_is_inside_the_viewport(app_page):
    page = app_page
    at_top(page, 1280, 720)
    r = rect(page.locator("img.aelib-decoded").first)
    assert r["x"] >= 0 and r["y"] >= 0 and r["right"] <= 1280 and r["bottom"] <= 720, r
    assert rect(page.locator(".aelib-explorer").first)["width"] >= 0.9 * 1280, "full width"
    at_top(page, 1920, 1080)


def _marker_centre(root) -> tuple[float, float]:
    r = rect(root.locator("img.aelib-marker"))
    return r["x"] + r["width"] / 2, r["y"] + r["height"] / 2


def _slider_values(root) -> list[float]:
    readouts = root.locator(".widget-readout")
    return [readout_value(readouts.nth(i).inner_text()) for i in range(2)]


def test_clicking_or_dragging_on_the_scatter_jumps_to_that_code(app_page):
    page = app_page
    root = explorer(page, "latent-explorer")
    root.scroll_into_view_if_needed()
    scatter = rect(root.locator("img.aelib-scatter"))
    before, text = read_decoded(root), root.locator(".aelib-readout").inner_text()
    x, y = scatter["x"] + 0.40 * scatter["width"], scatter["y"] + 0.30 * scatter["height"]
    page.mouse.click(x, y)
    wait_for_readout_change(page, root, text)
    page.wait_for_timeout(300)
    mx, my = _marker_centre(root)
    tol = 0.02 * scatter["width"]  # half a slider step is about 0.5 % of the width
    assert abs(mx - x) <= tol and abs(my - y) <= tol, ((mx, my), (x, y))
    assert _slider_values(root) == pytest.approx(kernel_readout(root), abs=1e-6), "sliders moved"
    after = read_decoded(root)
    assert np.any(after[0] != before[0]), "the decoded pixels changed"

    # a drag ends where the pointer is let go
    text = root.locator(".aelib-readout").inner_text()
    x2, y2 = scatter["x"] + 0.55 * scatter["width"], scatter["y"] + 0.65 * scatter["height"]
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=8)
    page.mouse.up()
    wait_for_readout_change(page, root, text)
    page.wait_for_function(
        """([m, x, y, tol]) => { const r = m.getBoundingClientRect();
             return Math.abs(r.x + r.width / 2 - x) <= tol
                 && Math.abs(r.y + r.height / 2 - y) <= tol; }""",
        arg=[root.locator("img.aelib-marker").element_handle(), x2, y2, tol], timeout=30_000,
    )  # fmt: skip
    assert _slider_values(root) == pytest.approx(kernel_readout(root), abs=1e-6)


def test_presets_move_the_code_and_reset_restores_it(app_page):
    page = app_page
    root = explorer(page, "latent-explorer", 1)  # the VAE
    root.scroll_into_view_if_needed()
    root.locator(".aelib-preset-reset").click()
    page.wait_for_timeout(500)
    start_text, start = root.locator(".aelib-readout").inner_text(), read_decoded(root)
    for preset in (".aelib-preset-gap", ".aelib-preset-prior", ".aelib-preset-class >> nth=1"):
        text = root.locator(".aelib-readout").inner_text()
        root.locator(preset).click()
        wait_for_readout_change(page, root, text)
        page.wait_for_timeout(300)
        assert np.any(read_decoded(root)[0] != start[0]), preset
        assert _slider_values(root) == pytest.approx(kernel_readout(root), abs=1e-6), preset
    text = root.locator(".aelib-readout").inner_text()
    root.locator(".aelib-preset-reset").click()
    assert wait_for_readout_change(page, root, text) == start_text
    page.wait_for_timeout(300)
    assert np.array_equal(read_decoded(root)[0], start[0]), "reset restores the pixels"


def shown_steps(text: str) -> list[tuple[float, float]]:
    """(arrow step, Page Up step) of each slider, as the help line states them."""
    both = re.search(r"move by ([\d.]+), Page Up / Page Down by ([\d.]+)", text)
    if both:
        return [(float(both.group(1)), float(both.group(2)))] * 2
    each = re.findall(r"← → ([\d.]+), Page Up / Down ([\d.]+)", text)
    assert len(each) == 2, text
    return [(float(a), float(b)) for a, b in each]


def test_arrow_keys_and_page_up_move_by_the_steps_shown(app_page):
    page = app_page
    root = explorer(page, "latent-explorer")
    root.scroll_into_view_if_needed()
    step, coarse = shown_steps(root.locator(".aelib-help").inner_text())[0]
    assert coarse == pytest.approx(5 * step)
    handle = root.locator(".widget-slider .noUi-handle").first
    root.locator(".aelib-preset-reset").click()
    page.wait_for_timeout(500)
    z0, pixels0 = kernel_readout(root)[0], read_decoded(root)[0]
    top = float(handle.get_attribute("aria-valuemax"))
    assert z0 + step + coarse <= top, "room to move (the start is the median code)"
    for key, expected in (("ArrowRight", step), ("PageUp", step + coarse)):
        text = root.locator(".aelib-readout").inner_text()
        handle.focus()
        handle.press(key)
        wait_for_readout_change(page, root, text)
        assert kernel_readout(root)[0] == pytest.approx(z0 + expected, abs=1e-6), key
    page.wait_for_timeout(300)
    assert np.abs(read_decoded(root)[0] - pixels0).max() > 0
    root.locator(".aelib-preset-reset").click()


def test_the_sliders_change_the_ae_decoding_and_every_compared_model(app_page):
    page = app_page
    move = move_and_return(page, explorer(page, "latent-explorer"), presses=3)
    assert move.every_image_changed_and_came_back, move
    root = explorer(page, "compare-explorer")
    root.scroll_into_view_if_needed()
    assert root.locator("img.aelib-plane").count() == 3, "each model's plane, the GAN's too"
    assert "standard units of each model's own codes" in root.inner_text()
    markers = root.locator("img.aelib-marker")
    left0 = markers.first.evaluate("el => el.style.left")
    move = move_and_return(page, root, presses=3)
    assert len(move.changed) == 3, "AE, VAE and GAN panels"
    assert move.every_image_changed_and_came_back, move
    handle = root.locator(".widget-slider .noUi-handle").first
    text = root.locator(".aelib-readout").inner_text()
    handle.focus()
    handle.press("PageUp")
    wait_for_readout_change(page, root, text)
    page.wait_for_timeout(300)
    assert markers.first.evaluate("el => el.style.left") != left0, "the plane markers move"
    handle.press("PageDown")


def test_the_play_button_sweeps_the_interpolation_and_classes_choose_the_ends(app_page):
    page = app_page
    root = explorer(page, "interpolation-player")
    root.scroll_into_view_if_needed()
    assert root.locator("img.aelib-strip").count() == 3, "AE, VAE and pixel blend strips"
    before, text = read_decoded(root), root.locator(".aelib-readout").inner_text()
    root.locator(".widget-play button").first.click()  # play
    wait_for_readout_change(page, root, text)
    page.wait_for_timeout(400)
    root.locator(".widget-play button").nth(1).click()  # pause
    assert any(np.any(a != b) for a, b in zip(read_decoded(root), before))
    end = root.locator("img.aelib-end").first
    src = end.get_attribute("src")
    root.locator(".widget-dropdown select").first.select_option("Sneaker")
    page.wait_for_function("([el, s]) => el.getAttribute('src') !== s",
                           arg=[end.element_handle(), src], timeout=30_000)  # fmt: skip


def test_the_page_shows_no_log_line_make_command_or_exercise(app_page):
    page = app_page
    text = page.inner_text("body")
    for backstage in ("Loaded ", "cached", "aelib.data", "device:", "make ", "Exercise",
                      "Traceback", "WARNING", "http://", "token"):  # fmt: skip
        assert backstage not in text, backstage
    assert page.locator("#rendered_cells .jp-RenderedText").count() == 0, "no stream output"


def test_no_request_left_127_0_0_1(app_page):
    page = app_page
    assert external_requests(page) == []


def test_a_request_without_the_token_gets_no_page_kernel_or_websocket(app, app_page):
    page = app_page
    kernels = app.kernel_processes()
    assert kernels == 1, "the page's kernel"
    for path in ("", "?token=wrong"):
        status, headers, body = app.request(path, token=False)
        assert status in (302, 403), (path, status)
        assert status == 403 or headers["Location"].startswith("/login")
        assert b"aelib" not in body
    kernel = f"api/kernels/{kernel_id(page)}"
    assert app.request(kernel, token=False)[0] == 403
    assert app.request(kernel)[0] == 200
    assert app.kernel_processes() == kernels, "no kernel was started"
    channels = f"/{kernel}/channels"
    assert websocket_status(app.port, channels) == 403
    assert websocket_status(app.port, channels, {"Authorization": f"token {app.token}"}) == 101
    # DNS rebinding: a page of another site reaches 127.0.0.1 under its own host name
    assert app.request(kernel, headers={"Host": f"localhost:{app.port}"})[0] == 200
    assert app.request(kernel, headers={"Host": f"evil.example:{app.port}"})[0] == 403
    assert app.request("", headers={"Host": f"evil.example:{app.port}"})[0] == 403
    assert app.kernel_processes() == kernels


def test_at_most_max_kernels_pages_and_a_closed_page_s_kernel_stops(app, browser, app_page):
    page = app_page
    other = new_page(browser, {"width": 1280, "height": 720})
    other.goto(app.url, wait_until="commit", timeout=120_000)
    other.wait_for_selector("body.aelib-live", timeout=240_000)
    mine, theirs = kernel_id(page), kernel_id(other)
    assert app.has_kernel(mine) and app.has_kernel(theirs)
    assert app.kernel_processes() == MAX_KERNELS
    status, _, body = app.request("")
    assert status == 503 and b"Too many explorer pages" in body, (status, body[:300])
    assert app.kernel_processes() == MAX_KERNELS, "the refused request started no kernel"
    other.goto("about:blank")  # leaving (or reloading) the page stops its kernel at once
    t0 = time.monotonic()
    while app.has_kernel(theirs):
        assert time.monotonic() - t0 < 10, "the page left, its kernel stayed"
        time.sleep(0.2)
    other.goto(app.url, wait_until="commit", timeout=120_000)
    other.wait_for_selector("body.aelib-live", timeout=240_000)
    theirs = kernel_id(other)
    other.close()  # a page that vanishes without unload handlers (a crash): the culler
    t0 = time.monotonic()
    while app.has_kernel(theirs):
        assert time.monotonic() - t0 < IDLE_S + CULL_S + 15, "the kernel outlived its page"
        time.sleep(0.5)
    assert app.has_kernel(mine), "the open page keeps its kernel"
    deadline = time.monotonic() + 15
    while app.kernel_processes() > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert app.kernel_processes() == 1, "its process has ended"


def test_when_the_kernel_stops_the_page_shows_the_pictures_and_says_so(app, app_page):
    """Last: it stops the shared page's kernel."""
    page = app_page
    at_top(page, 1920, 1080)
    status, _, _ = app.request(f"api/kernels/{kernel_id(page)}", method="DELETE")
    assert status == 204
    page.wait_for_selector("body.aelib-down", timeout=30_000)
    assert "sliders are unavailable" in page.inner_text("#aelib-status")
    assert page.locator("img.aelib-still:visible").count() == EXPLORERS
    assert page.locator("#rendered_cells").is_hidden()
