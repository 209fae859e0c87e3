"""Notebook suite: wall time of executing every notebook top to bottom, cache empty and warm.

Each notebook runs as ``make run`` runs it (``python -m nbconvert --to notebook --execute``,
whole process, outputs into build/bench/notebooks/), first with an empty train-or-load
cache (``AELIB_CACHE_DIR`` pointing to a fresh temporary folder: every model is trained),
then again with that same folder (warm: every cached model is loaded). Targets on 2 CPU
cores: under 8 minutes in total with the empty cache, under 2 minutes warm.
Results: a table, and build/bench/notebook_suite.json.

    python benchmarks/notebook_suite.py [--mode both|cold|warm|skip] [--only 02,04]

``--mode`` defaults to the environment variable ``AELIB_BENCH_NOTEBOOKS``, else ``both``
when run directly and ``skip`` inside ``make bench`` (both passes take up to 10 minutes on
their own; ``AELIB_BENCH_NOTEBOOKS=both make bench`` includes them). ``warm`` alone uses the
project's own cache (checkpoints/, filled by ``make warm``) and trains what is missing there.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"
TARGETS_S = {"cold": 8 * 60, "warm": 2 * 60}


def notebooks(only: list[str]) -> list[Path]:
    """notebooks/NN_*.ipynb in order (the Makefile's list), optionally only some numbers."""
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [nb for nb in found if not only or nb.name[:2] in only]


def execute(nb: Path, cache: Path | None, timeout: int) -> tuple[float, bool, str]:
    """Run one notebook like `make run`; returns (seconds, succeeded, last error line)."""
    env = dict(os.environ)
    if cache is not None:
        env["AELIB_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", str(nb),
           "--output-dir", str(OUT / "notebooks"),
           f"--ExecutePreprocessor.timeout={timeout}"]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    error = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]
    return seconds, done.returncode == 0, re.sub(r"\x1b\[[0-9;]*m", "", error)[:300]


def run_pass(label: str, nbs: list[Path], cache: Path | None, timeout: int) -> dict:
    print(f"{label} cache:", flush=True)
    per: dict[str, dict] = {}
    for nb in nbs:
        seconds, ok, error = execute(nb, cache, timeout)
        per[nb.name] = {"seconds": seconds, "ok": ok, **({"error": error} if error else {})}
        print(f"  {nb.name:<36}{seconds:7.1f} s{'' if ok else '  FAILED: ' + error}",
              flush=True)  # fmt: skip
    total = sum(r["seconds"] for r in per.values())
    ok = all(r["ok"] for r in per.values())
    met = ok and total < TARGETS_S[label]
    print(f"  {'total':<36}{total:7.1f} s  ({'meets' if met else 'misses'} the target "
          f"{TARGETS_S[label] / 60:.0f} min{'' if ok else '; some notebooks failed'})",
          flush=True)  # fmt: skip
    return {"notebooks": per, "total_s": total, "all_ok": ok, "target_s": TARGETS_S[label],
            "meets_target": met}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("AELIB_BENCH_NOTEBOOKS") or ("skip" if "MAKELEVEL" in os.environ
                                                          else "both")  # fmt: skip
    ap.add_argument("--mode", choices=["both", "cold", "warm", "skip"], default=default)
    ap.add_argument("--only", default="", help="comma-separated notebook numbers, e.g. 02,04")
    ap.add_argument("--timeout", type=int, default=900, help="per cell, as in make run")
    args = ap.parse_args()
    if args.mode == "skip":
        print("notebook_suite: skipped; time the notebooks with "
              "`AELIB_BENCH_NOTEBOOKS=both make bench` or `python benchmarks/notebook_suite.py`")
        return
    nbs = notebooks([s.strip() for s in args.only.split(",") if s.strip()])
    if not nbs:
        print("notebook_suite: no notebooks found in notebooks/; nothing to time")
        return
    print(f"Executing {len(nbs)} notebooks top to bottom ({os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}):", flush=True)  # fmt: skip
    passes = {}
    with tempfile.TemporaryDirectory(prefix="aelib-bench-cache-") as tmp:
        if args.mode in ("both", "cold"):
            passes["cold"] = run_pass("cold", nbs, Path(tmp), args.timeout)
        if args.mode == "both":
            passes["warm"] = run_pass("warm", nbs, Path(tmp), args.timeout)
        if args.mode == "warm":  # the project's own cache (checkpoints/ or AELIB_CACHE_DIR)
            passes["warm"] = run_pass("warm", nbs, None, args.timeout)

    save("notebook_suite",
         {"mode": args.mode, "load_avg_end": os.getloadavg()[0], "passes": passes})
    if not all(p["all_ok"] for p in passes.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
