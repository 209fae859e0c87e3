"""How long the setup cell waits before the offline fallback, with no way to get the data.

Each case runs ``aelib.load_dataset()`` in a fresh interpreter, with an empty data folder,
no system copy and downloads allowed, and reports the seconds from the call to the
returned ``digits`` set (and the whole command, interpreter start and ``import aelib``
included). Cases:

- ``this machine``: the real network of this machine, as it is (here: no network, the host
  name of the mirror does not resolve);
- ``refused``: a mirror on 127.0.0.1 where nothing listens (a firewall that rejects);
- ``silent``: a mirror on 127.0.0.1 that accepts the connection and never answers (a
  network that drops packets), under the default ``AELIB_DOWNLOAD_TIMEOUT`` (10 s) and 2 s.

Target (issue 18): under 5 s with no network. The silent case is bounded by the time limit
instead. Results: a table, and build/bench/offline_fallback.json.

    python benchmarks/offline_fallback.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parents[1]
CODE = """
import json, time
t0 = time.perf_counter()
import aelib
t1 = time.perf_counter()
ds = aelib.load_dataset("fashion-mnist")
print(json.dumps({"name": ds.name, "import_s": t1 - t0, "fallback_s": time.perf_counter() - t1}))
"""


def silent_listener() -> tuple[socket.socket, threading.Event]:
    """127.0.0.1:port that accepts connections and never sends a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.05)
    stop, conns = threading.Event(), []

    def run() -> None:
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass
        for c in conns:
            c.close()

    threading.Thread(target=run, daemon=True).start()
    return srv, stop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_case(env_extra: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AELIB_")}
        env.update(AELIB_DATA_DIR=tmp, AELIB_SYSTEM_DATA_DIR="", OMP_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT), **env_extra)  # fmt: skip
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        total = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        notice = next((ln for ln in out.stderr.splitlines() if "NOTICE" in ln), "")
        left = [str(p.relative_to(tmp)) for p in Path(tmp).rglob("*")]
    return {**result, "command_s": total, "notice": notice, "files_left": left}


def main() -> None:
    srv, stop = silent_listener()
    silent = f"http://127.0.0.1:{srv.getsockname()[1]}/"
    cases = {
        "this machine": {},
        "refused": {"AELIB_DATA_MIRROR": f"http://127.0.0.1:{free_port()}/"},
        "silent, default limit": {"AELIB_DATA_MIRROR": silent},
        "silent, 2 s limit": {"AELIB_DATA_MIRROR": silent, "AELIB_DOWNLOAD_TIMEOUT": "2"},
    }
    results = {}
    try:
        for name, extra in cases.items():
            results[name] = run_case(extra)
            r = results[name]
            print(f"{name:<22} fallback {r['fallback_s']:6.2f} s   whole command "
                  f"{r['command_s']:6.2f} s   dataset {r['name']}   files left "
                  f"{len(r['files_left'])}", flush=True)  # fmt: skip
    finally:
        stop.set()
        srv.close()
    print("notice (this machine):", results["this machine"]["notice"])
    ok = results["this machine"]["fallback_s"] < 5
    print(f"target: under 5 s with no network: {'met' if ok else 'NOT met'}")
    save("offline_fallback", {"results": results, "target_s": 5, "target_met": ok})


if __name__ == "__main__":
    main()
