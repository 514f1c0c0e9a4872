"""How the in-process cost of a call grows with the history: 30, 300, 1,000 and 3,000 Observations.

    .venv/bin/python benchmarks/scaling.py [--calls 60]

The service app is called directly (no sockets), each call with its own request bytes, the heap settled
as in a gunicorn worker. Prints per size: request bytes, CPU ms per call (median and p90 of process time),
the cost per 100 Observations over the step from the previous size (flat = linear), and the process's
peak resident memory so far (a stand-in for one worker's: one thread, the same app). Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import inprocess

SIZES = (30, 300, 1000, 3000)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_per_call(app, requests) -> list[float]:
    out = []
    for body in requests:
        started = time.process_time()
        status = inprocess.call(app, body)
        out.append((time.process_time() - started) * 1000)
        if status != 200:
            raise SystemExit(f"status {status}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=60, help="calls per size")
    args = parser.parse_args()
    print(f"load average: {inprocess.load_average()}")
    print(f"{'Observations':>12} {'request kB':>11} {'CPU ms p50':>11} {'CPU ms p90':>11} "
          f"{'ms per 100 more':>16} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        app = inprocess.service_app(tmp)
        inprocess.settle_heap()
        previous = None
        for size in SIZES:
            size_bytes = len(next(inprocess.fresh_bodies(1, observations=size)))
            cpu_per_call(app, inprocess.fresh_bodies(3, observations=size))          # warm-up
            times = sorted(cpu_per_call(app, inprocess.fresh_bodies(args.calls, observations=size)))
            p50, p90 = statistics.median(times), times[int(0.9 * (len(times) - 1))]
            step = "" if previous is None else f"{(p50 - previous[1]) / (size - previous[0]) * 100:.3f}"
            print(f"{size:>12} {size_bytes / 1024:>11.0f} {p50:>11.2f} {p90:>11.2f} {step:>16} "
                  f"{peak_rss_mb():>12}", flush=True)
            previous = (size, p50)
    print(f"load average: {inprocess.load_average()}")


if __name__ == "__main__":
    main()
