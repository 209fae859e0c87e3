"""What the browser tests do with a Voila page: read pixels, move sliders, compare.

The check is a function (``move_and_return``) that REPORTS what changed rather than
asserting, so the negative control can assert that it reports "no change" for a decoder
that ignores z: proof that the check can fail.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import time
from dataclasses import dataclass

import numpy as np

# ipywidgets 8 shows an Image widget as <img src="blob:...">: neither the src nor a
# data URI says anything about the pixels, so draw each <img> into a canvas in the page
# and read the canvas back. Only the decoded images (class aelib-decoded) are read: the
# <img> holds the pixels alone, captions are separate HTML, so no title needs cropping.
READ_DECODED = """async (root) => {
  const out = [];
  for (const img of root.querySelectorAll('img.aelib-decoded')) {
    if (!img.complete || img.naturalWidth === 0) { await img.decode(); }
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const gray = new Array(c.width * c.height);
    for (let i = 0; i < gray.length; i++) { gray[i] = d[4 * i]; }
    out.push({w: c.width, h: c.height, gray: gray});
  }
  return out;
}"""


def read_decoded(root) -> list[np.ndarray]:
    """The pixels of every decoded image under ``root`` (a Playwright locator), as arrays."""
    imgs = root.evaluate(READ_DECODED)
    return [np.array(i["gray"], np.int16).reshape(i["h"], i["w"]) for i in imgs]


def readout_value(text: str) -> float:
    """A noUiSlider readout as a float (ipywidgets prints a Unicode minus)."""
    return float(text.strip().replace("\u2212", "-"))


@dataclass
class Move:
    """What one slider move did to the decoded images (one entry per image)."""

    readouts: tuple[str, str]  # the slider's readout before and after the move
    changed: list[bool]  # pixels differ after the move
    restored: list[bool]  # pixels equal the originals again after moving back
    max_change: list[int]  # largest per-pixel change, 0..255

    @property
    def every_image_changed_and_came_back(self) -> bool:
        return bool(self.changed) and all(self.changed) and all(self.restored)


def _wait_for_kernel(page, root, slider: int, value: float, timeout_s: float) -> None:
    """Wait until the kernel's own readout, z = (+z1, +z2), shows ``value``: it handled it.

    The readout shows as many decimals as the slider's readout, so the two agree exactly.
    """
    page.wait_for_function(
        """([el, k, want]) => {
             const z = (el.textContent.match(/[+-]\\d+\\.\\d+/g) || [])[k];
             return z !== undefined && Math.abs(parseFloat(z) - want) < 1e-9;
           }""",
        arg=[root.locator(".aelib-readout").element_handle(), slider, value],
        timeout=timeout_s * 1e3,
    )


def _poll(root, predicate, settle_s: float) -> list[np.ndarray]:
    """Read the pixels until ``predicate(pixels)`` holds or ``settle_s`` has passed."""
    deadline = time.monotonic() + settle_s
    while True:
        pixels = read_decoded(root)
        if predicate(pixels) or time.monotonic() > deadline:
            return pixels
        time.sleep(0.05)


def move_and_return(
    page, root, slider: int = 0, presses: int = 5, timeout_s: float = 30, settle_s: float = 2
) -> Move:
    """Press ArrowRight ``presses`` times on a slider, then ArrowLeft as often; report."""
    before = read_decoded(root)
    handle = root.locator(".widget-slider .noUi-handle").nth(slider)
    readout = root.locator(".widget-readout").nth(slider)
    start = readout.inner_text()

    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")
    page.wait_for_function(
        "([el, t]) => el.textContent.trim() !== t", arg=[readout.element_handle(), start.strip()],
        timeout=timeout_s * 1e3,
    )  # fmt: skip
    moved = readout.inner_text()
    _wait_for_kernel(page, root, slider, readout_value(moved), timeout_s)
    after = _poll(root, lambda px: all(np.any(a != b) for a, b in zip(px, before)), settle_s)

    for _ in range(presses):
        handle.press("ArrowLeft")
    _wait_for_kernel(page, root, slider, readout_value(start), timeout_s)
    back = _poll(root, lambda px: all(np.array_equal(a, b) for a, b in zip(px, before)), settle_s)
    return Move(
        readouts=(start, moved),
        changed=[bool(np.any(a != b)) for a, b in zip(after, before)],
        restored=[np.array_equal(a, b) for a, b in zip(back, before)],
        max_change=[int(np.abs(a - b).max()) for a, b in zip(after, before)],
    )


# --------------------------------------------------------------------- the app's page


def kernel_id(page) -> str:
    """The id of the kernel that runs the page (Voila's page config)."""
    return page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )


def rect(locator) -> dict:
    """The element's box in CSS pixels of the viewport (x, y, width, height, right, bottom)."""
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width,"
        " height: r.height, right: r.right, bottom: r.bottom}; }"
    )


def font_px(locator) -> float:
    """The computed font size of the element, in CSS pixels."""
    return float(locator.evaluate("el => parseFloat(getComputedStyle(el).fontSize)"))


def kernel_readout(root) -> list[float]:
    """The numbers of the explorer's kernel readout, e.g. z = (+1.50, -2.00) -> [1.5, -2.0]."""
    text = root.locator(".aelib-readout").inner_text()
    return [float(v) for v in re.findall(r"[+-]?\d+\.\d+", text.replace("\u2212", "-"))]


def wait_for_readout_change(page, root, before: str, timeout_s: float = 30) -> str:
    """Wait until the kernel's readout differs from ``before``; return the new text."""
    page.wait_for_function(
        "([el, t]) => el.textContent.trim() !== t",
        arg=[root.locator(".aelib-readout").element_handle(), before.strip()],
        timeout=timeout_s * 1e3,
    )
    return root.locator(".aelib-readout").inner_text()


def websocket_status(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a websocket handshake (101: accepted), sent by hand."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split()[1])
