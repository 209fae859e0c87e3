"""Startup: whole-process time of ``import aelib`` against ``import torch``, and a setup cell.

Every notebook starts with one setup cell (imports, ``aelib.setup``,
``aelib.load_dataset``); its time is what a student waits before the first lesson cell.
Timed: a minimal setup cell, and the real first code cell of each notebook in notebooks/
(fewer repeats). Each case runs as a fresh ``python -c`` process in notebooks/, timed from
launch to exit, interleaved with the others (the order rotating) so that drift on the
machine hits all alike; medians are compared. Target: ``import aelib`` at most 1.15x
``import torch`` (submodules and heavy optional packages such as torchvision, scikit-learn
and ipywidgets load where they are used).
Results: a table, and build/bench/startup.json.

    python benchmarks/startup.py [--repeats 7] [--cell-repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.15

SETUP_CELL = """\
import aelib
device = aelib.setup(seed=0)
ds = aelib.load_dataset()
print(f"device: {device}; data: {ds.name}")
"""

CASES = {
    "python": "pass",
    "import torch": "import torch",
    "import aelib": "import aelib",
    "setup cell": SETUP_CELL,
}


def notebook_setup_cells() -> dict[str, str]:
    """The first code cell of every notebook that calls aelib.setup (IPython magics dropped)."""
    cells = {}
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        code = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        source = "".join(code[0]["source"]) if code else ""
        if "aelib.setup" in source:
            lines = source.splitlines()
            cells[f"setup cell {nb.name[:2]}"] = "\n".join(
                line for line in lines if not line.lstrip().startswith(("%", "!"))
            )
    return cells

MODULES = """\
import sys
before = set(sys.modules)
import {name}
print(" ".join(sorted({{m.split(".")[0] for m in set(sys.modules) - before}})))
"""


def run_once(code: str) -> float:
    """Seconds from launching ``python -c code`` to its exit (it must succeed)."""
    start = time.perf_counter()
    where = ROOT / "notebooks" if (ROOT / "notebooks").is_dir() else ROOT  # as a notebook runs
    subprocess.run([sys.executable, "-c", code], cwd=where, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def top_level_modules(name: str) -> set[str]:
    code = MODULES.format(name=name)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cell-repeats", type=int, default=3, help="for each notebook's cell")
    args = ap.parse_args()

    cases = {**CASES, **notebook_setup_cells()}
    names = list(cases)
    for name in names:  # warm the file cache: the first launch reads everything from disk
        run_once(cases[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(max(args.repeats, args.cell_repeats)):
        rotated = names[r % len(names):] + names[: r % len(names)]
        for name in rotated:
            if r < (args.repeats if name in CASES else args.cell_repeats):
                times[name].append(run_once(cases[name]))
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = med["import aelib"] / med["import torch"]
    extra = sorted(top_level_modules("aelib") - top_level_modules("torch") - {"aelib"})

    print(f"Whole-process startup, median of {args.repeats} interleaved runs ({args.cell_repeats} "
          f"for each notebook's cell; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}):")
    for name in names:
        rel = med[name] / med["import torch"]
        print(f"  {name:<14}{med[name]:6.2f} s  {rel:5.2f}x import torch")
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"import aelib / import torch = {ratio:.2f}x ({verdict} the target {TARGET}x)")
    print(f"packages import aelib loads beyond torch: {', '.join(extra) or 'none'}")

    save("startup", {
        "repeats": args.repeats, "python": sys.version.split()[0],
        "load_avg_end": os.getloadavg()[0], "runs_s": times, "median_s": med,
        "aelib_over_torch": ratio, "target": TARGET, "extra_packages": extra,
        "cells": {k: v for k, v in cases.items() if k.startswith("setup cell")},
    })  # fmt: skip


if __name__ == "__main__":
    main()
