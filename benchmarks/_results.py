"""What every benchmark does last: save its result as build/bench/NAME.json, and say where."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` with the benchmark's name, the machine and the command line, atomically."""
    record = {
        "benchmark": name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": " ".join(["python", f"benchmarks/{name}.py", *sys.argv[1:]]),
        **result,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=OUT, suffix=".tmp", delete=False) as f:
        json.dump(record, f, indent=2)
    os.replace(f.name, path)  # a reader never sees half a file
    print(f"Wrote {path.relative_to(ROOT)}")
    return path
