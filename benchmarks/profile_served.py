"""Where a served hook call's time goes: py-spy on the gunicorn workers while they are under load.

    .venv/bin/pip install py-spy        # a sampling profiler; not a dependency of the service
    .venv/bin/python benchmarks/profile_served.py [--size long-history] [--seconds 20] [--layout 2x1]

Starts the service under the production gunicorn settings, drives it with 16 concurrent keep-alive
connections (fresh bodies) from a separate process, samples every worker with py-spy (threads
holding the GIL only, ``--gil``: CPU spent in Python, not threads waiting for it) and sorts the samples
into the steps of a call. Prints each step's share of the samples, the server CPU used meanwhile
(from /proc) and the load average. Under load, a thread the OS has put aside while it holds the GIL is
sampled too: read the shares, not milliseconds. Raw stacks: benchmarks/results/.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402

# (step, substrings of a frame "function (file)"); the first step any frame of a stack matches wins,
# looking from the innermost frame outwards.
STEPS = [
    ("JSON parse (orjson.loads)", ["read_json_body (cds_service/cds_hooks/request_body.py:"]),
    ("nesting-depth check", ["nesting_exceeds", "nested_deeper"]),
    ("body read from socket", ["get_data (werkzeug", "_body_bytes", "read (gunicorn/http/body.py",
                               "read (gunicorn/http/unreader"]),
    ("request schema (marshmallow)", ["load_hook_request"]),
    ("patient record from prefetch", ["gather_record"]),
    ("engine: Observation index/readings", ["(cds_service/engine/observations.py"]),
    ("engine: read patient (other)", ["read_patient"]),
    ("engine: read orders", ["read_orders"]),
    ("engine: rules", ["run_rules"]),
    ("engine: other", ["evaluate (cds_service/engine/__init__.py"]),
    ("cards (build_response)", ["build_response"]),
    ("audit queue (record_issued_later)", ["record_issued_later"]),
    ("audit writer thread (SQLite batch)", ["_write_pending_forever"]),
    ("JSON log line", ["logging/__init__.py", "cds_service/ops/logs.py"]),
    ("metrics (prometheus multiprocess)", ["observe_hook", "prometheus_client"]),
    ("response JSON + Flask response", ["jsonify", "json_response", "orjson_response", "finalize_request",
                                        "make_response"]),
    ("auth", ["authenticate (cds_service/trust"]),
    ("Flask/werkzeug dispatch", ["flask/", "werkzeug/", "flask_cors/"]),
    ("gunicorn HTTP parse + socket", ["gunicorn/"]),
]


def classify(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for step, marks in STEPS:
            if any(mark in frame for mark in marks):
                return step
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(run.SIZES), default="long-history")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--layout", help="WORKERSxTHREADS (default: gunicorn_conf.py's)")
    parser.add_argument("--all-threads", action="store_true", help="sample threads not holding the GIL too")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    workdir = Path(tempfile.mkdtemp(prefix="iron-cds-profile-"))
    env = {"IRON_CDS_AUTH": "off", "IRON_CDS_DATABASE_URL": f"sqlite:///{workdir}/bench.db"}
    if args.layout:
        workers, threads = args.layout.lower().split("x")
        env.update(IRON_CDS_WORKERS=workers, IRON_CDS_THREADS=threads)
    port = run.free_port()
    server = run.start_gunicorn("cds_service.app:create_app()", port, workdir, env)
    out = HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"pyspy-{args.size}.txt"
    try:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        requests = 100_000   # more than the profile needs: the load process is stopped after it
        loader = ctx.Process(target=run._load_process,
                             args=(port, run.SIZES[args.size], requests, 16, 160, None, queue))
        loader.start()
        run._get(queue)
        cpu0, t0 = run.server_cpu_seconds(server.pid), time.time()
        cmd = [pyspy, "record", "--pid", str(server.pid), "--subprocesses", "--format", "raw", "--rate", str(args.rate),
               "--duration", str(args.seconds), "--output", str(raw), "--nonblocking"]
        if not args.all_threads:
            cmd.append("--gil")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu = run.server_cpu_seconds(server.pid) - cpu0
        elapsed = time.time() - t0
        loader.terminate()
        loader.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    counts: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack.startswith("process ") or ";" in stack or stack:
            counts[classify(stack)] += int(n)
    total = sum(counts.values())
    print(f"load average: {run.load_average()}; server CPU {cpu:.1f} s in {elapsed:.1f} s; {total} samples")
    for step, n in counts.most_common():
        print(f"  {step:<40} {100 * n / total:5.1f} %")
    print(f"raw stacks: {raw}")


if __name__ == "__main__":
    main()
