"""Slider latency: one move of the latent explorer against the naive ``interact`` redraw.

What is timed is the Python side of one slider move in a real IPython kernel (ipykernel,
started with jupyter_client), with the real comms: the front end's ``comm_msg`` with the
new value is handed to the slider (``Widget._handle_msg``, the entry point ipykernel
calls), which sets the value, echoes it, runs the handler (decode, render) and serializes
and queues every resulting message (new image, marker margin, readout) on the kernel's
IOPub socket. Two numbers per approach:

* handler: measured inside the kernel around ``_handle_msg`` (the target: median < 20 ms);
* round trip: measured by a client that sends the ``comm_msg`` over ZMQ like the front
  end's server does, until the kernel reports ``idle`` for it. This adds the kernel's
  message loop and transport; it is also exactly what the ipywidgets front end waits for
  before it sends the next value of a drag.

Both explorers show a scatter of the 10,000 test codes (Fashion-MNIST, or the fallback
data set) under the lecture AE; "aelib, presentation" is the app's view of the same
explorer (notebook 09: sized to the window, presets, a 600-pixel scatter). The AE is
freshly initialised, not trained: the layers, and so the cost of a decode, are the same,
and the benchmark never trains.

Naive approach: ``ipywidgets.interact`` over a function that draws a full matplotlib
figure (decoded image beside the 10,000-point scatter with the current point) and shows
it through the inline backend, i.e. a PNG of the whole figure per move. It decodes with
the default torch threads, as a notebook would; "naive, 1 thread" decodes like aelib, to
show that the figure, not the decode, is what costs.

Why fast drags do not queue redraws: the ipywidgets front end keeps at most one update
message per widget in flight (``_pending_msgs``) and, while one is pending, overwrites a
single buffered state with each newer value (``_msg_buffer``), sent when the kernel
reports idle. The kernel therefore sees the latest value, never a backlog; with a
handler of a few milliseconds a drag is followed at the rate the browser sends.
tests/browser/ checks this in Chromium: 20 key presses on a decoder that sleeps 0.25 s
reach the kernel as 2-3 updates, and the image settles on the final value.

    python benchmarks/widget_latency.py [--moves 200] [--naive-moves 30]

Results: a table, and build/bench/widget_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from queue import Empty

from _results import save
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]

SETUP = r"""
import json, time
import matplotlib.pyplot as plt
import numpy as np
import torch
import ipywidgets as W
import aelib
from aelib import widgets as AW, zoo

torch.manual_seed(0)
ds = aelib.load_dataset()
ae = zoo.build("ae").eval()  # untrained: same layers, same decode cost; never trains here
with torch.no_grad():
    codes = ae.encoder(ds.x_test)  # (10000, 1, 28, 28) -> (10000, 2)
labels = ds.y_test

t = time.perf_counter()
explorer = AW.latent_explorer(ae.decoder, codes, labels, ds.classes)  # renders the scatter once
build_ms = (time.perf_counter() - t) * 1e3
t = time.perf_counter()
presenting = AW.latent_explorer(ae.decoder, codes, labels, ds.classes, presentation=True)
build_presentation_ms = (time.perf_counter() - t) * 1e3
lo, hi = explorer.z1.min, explorer.z1.max


def make_naive(single_thread):
    def draw(z1, z2):
        with torch.no_grad():
            if single_thread:
                with AW.single_thread():
                    x_hat = ae.decoder(torch.tensor([[z1, z2]]))
            else:
                x_hat = ae.decoder(torch.tensor([[z1, z2]]))
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
        ax1.imshow(x_hat[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax1.set_title("decoded h(z)")
        ax1.axis("off")
        ax2.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=2, alpha=0.4)
        ax2.plot([z1], [z2], "o", ms=10, mfc="gold", mec="black")
        ax2.set_xlim(lo, hi)
        ax2.set_ylim(explorer.z2.min, explorer.z2.max)
        plt.show()

    return W.interact(draw, z1=W.FloatSlider(value=0.0, min=lo, max=hi, step=explorer.z1.step),
                      z2=W.FloatSlider(value=0.0, min=explorer.z2.min, max=explorer.z2.max,
                                       step=explorer.z2.step))


naive = make_naive(single_thread=False).widget
naive1 = make_naive(single_thread=True).widget
sliders = {"aelib": explorer.z1, "aelib, presentation": presenting.z1,
           "naive": naive.children[0], "naive, 1 thread": naive1.children[0]}


def handler_times(name, n):
    slider, out = sliders[name], []
    for v in np.linspace(slider.min, slider.max, n):
        msg = {"content": {"data": {"method": "update", "state": {"value": float(v)},
                                    "buffer_paths": []}}, "buffers": []}
        t = time.perf_counter()
        slider._handle_msg(msg)
        out.append((time.perf_counter() - t) * 1e3)
    return out


print(json.dumps({"ids": {k: s.model_id for k, s in sliders.items()}, "build_ms": build_ms,
                  "build_presentation_ms": build_presentation_ms,
                  "range": [lo, hi], "codes": len(codes), "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "ipywidgets": W.__version__,
                  "dataset": ds.name}))
"""


def run(kc, code: str, timeout: float = 600) -> list[str]:
    """Execute ``code`` in the kernel; return its stdout lines; raise on an error."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(reply["content"].get("evalue"))
    return "".join(out).splitlines()


def round_trips(kc, comm_id: str, values: list[float]) -> tuple[list[float], list[int]]:
    """Send each value as the front end would; time until the kernel is idle again."""
    times, sizes = [], []
    for v in values:
        msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {
            "method": "update", "state": {"value": float(v)}, "buffer_paths": []}})  # fmt: skip
        t = time.perf_counter()
        kc.shell_channel.send(msg)
        size = 0
        while True:
            reply = kc.get_iopub_msg(timeout=60)
            if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                break
            size += len(json.dumps(reply["content"])) + sum(len(b) for b in reply["buffers"])
        times.append((time.perf_counter() - t) * 1e3)
        sizes.append(size)
        try:  # the shell reply (none for comm_msg in most kernels): drain it
            while True:
                kc.get_shell_msg(timeout=0)
        except Empty:
            pass
    return times, sizes


def summary(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=10)
    return {"median_ms": statistics.median(ms), "p10_ms": q[0], "p90_ms": q[-1], "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=200, help="moves of the aelib explorer")
    ap.add_argument("--naive-moves", type=int, default=30, help="moves of each naive variant")
    args = ap.parse_args()

    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    km = KernelManager(kernel_name="python3", transport="ipc")  # local sockets, no TCP
    km.start_kernel(env=env, cwd=str(ROOT))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        info = json.loads(run(kc, SETUP)[-1])
        moves = {"aelib": args.moves, "aelib, presentation": args.moves,
                 "naive": args.naive_moves, "naive, 1 thread": args.naive_moves}  # fmt: skip
        results: dict[str, dict] = {}
        for _ in range(2):  # interleaved rounds: load changes on a shared machine
            for name, n in moves.items():
                code = f"print(json.dumps(handler_times({name!r}, {n})))"
                handler = json.loads(run(kc, code)[-1])
                lo, hi = info["range"]
                values = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
                trips, sizes = round_trips(kc, info["ids"][name], values)
                r = results.setdefault(name, {"handler": [], "round_trip": [], "bytes": []})
                r["handler"] += handler
                r["round_trip"] += trips
                r["bytes"] += sizes
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    report = {"codes": info["codes"], "dataset": info["dataset"],
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "torch_threads": info["threads"], "torch": info["torch"],
              "ipywidgets": info["ipywidgets"], "load_avg_1min": os.getloadavg()[0],
              "aelib_explorer_build_ms": info["build_ms"],
              "aelib_presentation_build_ms": info["build_presentation_ms"]}  # fmt: skip
    for name, r in results.items():
        report[name] = {"handler": summary(r["handler"]), "round_trip": summary(r["round_trip"]),
                        "bytes_per_move_median": statistics.median(r["bytes"])}  # fmt: skip
    a, n = report["aelib"], report["naive"]
    report["speedup_handler"] = n["handler"]["median_ms"] / a["handler"]["median_ms"]
    report["speedup_round_trip"] = n["round_trip"]["median_ms"] / a["round_trip"]["median_ms"]
    report["target_met"] = (a["handler"]["median_ms"] < 20 and report["speedup_handler"] >= 5
                            and report["aelib, presentation"]["handler"]["median_ms"] < 20)

    print(f"One slider move, {info['codes']:,}-point scatter, {report['machine']}, "
          f"load {report['load_avg_1min']:.1f}")
    print(f"{'median of one move':<20}{'handler':>12}{'(p90)':>12}{'round trip':>12}{'kB sent':>9}")
    for name in results:
        h, t = report[name]["handler"], report[name]["round_trip"]
        print(f"{name:<20}{h['median_ms']:>9.1f} ms{h['p90_ms']:>9.1f} ms"
              f"{t['median_ms']:>9.1f} ms{report[name]['bytes_per_move_median'] / 1e3:>9.1f}")
    print(f"(the aelib explorer renders its scatter once, when built: "
          f"{info['build_ms']:.0f} ms; the presentation view, 600 px high with its presets "
          f"and steps: {info['build_presentation_ms']:.0f} ms)")
    print(f"aelib is {report['speedup_handler']:.1f}x faster than naive interact (handler), "
          f"{report['speedup_round_trip']:.1f}x (round trip); target < 20 ms and >= 5x: "
          f"{'met' if report['target_met'] else 'NOT met'}")
    save("widget_latency", report)


if __name__ == "__main__":
    main()
