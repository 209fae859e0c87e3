"""Denormal floats: what ``aelib.setup``'s flush-to-zero saves once training is under way.

A weight whose gradient stays exactly 0 (a dead ReLU, a pixel that is black in every
image) keeps an Adam running mean that shrinks by beta1 each step: after a few hundred
steps it is a denormal float (below 1.2e-38), and CPU arithmetic on denormals is about ten
times slower. ``aelib.setup()`` turns on flush-to-zero; ``aelib.setup(flush_denormal=False)``
leaves the CPU default. Each case runs in a fresh process (the setting must be made before
the thread pool starts), trains with ``aelib.fit`` / ``aelib.fit_gan`` for 1 epoch and for
1 + ``--epochs`` epochs, and reports the time of the later epochs per epoch, and how many of
Adam's running means are denormal at the end without the flush. Cases are interleaved and
medians compared. Results: a table, and build/bench/denormals.json.

    python benchmarks/denormals.py [--repeats 2] [--epochs 3] [--models ae,vae,gan]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parents[1]

CHILD = """\
import json, sys, time, torch
import aelib
from aelib import zoo
name, mode, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
aelib.setup(seed=0, plots=False, flush_denormal=mode == "flush")
x = aelib.load_dataset("fashion-mnist").x_train

def train(n):
    model = zoo.build(name)
    start = time.perf_counter()
    if name == "gan":
        aelib.fit_gan(model, x, num_epochs=n, progress=False)
    else:
        aelib.fit(model, x, zoo.RECIPES[name]["loss_fn"], num_epochs=n, progress=False)
    return time.perf_counter() - start

if mode == "count":  # train without the flush and look at every optimizer's running means
    from torch.optim.optimizer import register_optimizer_step_post_hook

    optimizers = {}
    register_optimizer_step_post_hook(
        lambda opt, args, kwargs: optimizers.setdefault(id(opt), opt))
    train(epochs)
    means = [s["exp_avg"] for o in optimizers.values() for s in o.state.values()]
    tiny = torch.finfo(torch.float32).tiny
    print(json.dumps({"denormal": sum(int(((m != 0) & (m.abs() < tiny)).sum()) for m in means),
                      "all": sum(m.numel() for m in means)}))
else:
    first = train(1)
    later = (train(1 + epochs) - first) / epochs
    print(json.dumps({"first_s": first, "later_s_per_epoch": later}))
"""


def child(name: str, mode: str, epochs: int) -> dict[str, float]:
    """Run CHILD in a fresh process: mode "flush" or "default" (timings) or "count"."""
    out = subprocess.run([sys.executable, "-c", CHILD, name, mode, str(epochs)],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if out.returncode:
        sys.exit(f"benchmark child ({name}, {mode}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", default="ae,vae,gan")
    args = ap.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    load_before = os.getloadavg()[0]

    runs: dict[str, dict[str, list[dict]]] = {n: {"flush": [], "default": []} for n in names}
    for r in range(args.repeats):  # interleaved, the order alternating
        for name in names:
            for label in ("flush", "default") if r % 2 == 0 else ("default", "flush"):
                res = child(name, label, args.epochs)
                runs[name][label].append(res)
                print(f"  repeat {r + 1}/{args.repeats} {name} {label}: first epoch "
                      f"{res['first_s']:.2f} s, later {res['later_s_per_epoch']:.2f} s/epoch",
                      flush=True)  # fmt: skip

    results = {}
    for name in names:
        med = {label: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for label, rs in runs[name].items()}  # fmt: skip
        results[name] = {"runs": runs[name], "median": med,
                         "later_epoch_speedup": med["default"]["later_s_per_epoch"]
                         / med["flush"]["later_s_per_epoch"]}  # fmt: skip
    denormal = {name: child(name, "count", args.epochs) for name in names}

    print(f"\nSeconds per epoch with aelib.fit, 2 CPU threads, median of {args.repeats} "
          f"(load average {load_before:.1f} at start):")
    print(f"{'model':<7}{'flush: 1st':>11}{'later':>8}{'default: 1st':>14}{'later':>8}"
          f"{'saved':>8}{'denormal Adam means':>22}")
    for name, res in results.items():
        f, d = res["median"]["flush"], res["median"]["default"]
        den, total = denormal[name]["denormal"], denormal[name]["all"]
        print(f"{name:<7}{f['first_s']:>9.2f} s{f['later_s_per_epoch']:>6.2f} s"
              f"{d['first_s']:>12.2f} s{d['later_s_per_epoch']:>6.2f} s"
              f"{1 - 1 / res['later_epoch_speedup']:>7.0%}{den:>12,} of {total:,}")  # fmt: skip
    print(f"later = epochs 2 to {1 + args.epochs}; denormal means counted after "
          f"{args.epochs} epochs without the flush.")

    save("denormals", {"epochs_after_first": args.epochs, "repeats": args.repeats,
                       "load_avg_start": load_before, "results": results,
                       "denormal_adam_means": denormal})  # fmt: skip


if __name__ == "__main__":
    main()
