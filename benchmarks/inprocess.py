"""In-process cost of one hook call: the WSGI app called directly, no sockets, no gunicorn.

    .venv/bin/python benchmarks/inprocess.py [--calls 300] [--kinds small,long,no-iv] [--profile KIND]

Each call gets its own request bytes (a fresh hookInstance), so parsing, allocation and the garbage
collector are paid as in production; the service logs at INFO (to /dev/null) as in production.
Prints CPU ms per call (process time) and wall ms, for the service and for the bare Flask echo, on the
small and the long-history request and the small one with an oral draft (no-iv), and their ratio;
``long-no-iv`` (the long prefetch beside the oral draft) and ``no-iv-server`` (the small one with
fhirServer and fhirAuthorization, as EHRs send them) on request with ``--kinds``.

``--instructions`` counts machine instructions per call instead, under valgrind's callgrind (apt-get
install valgrind): about 50x slower, but the count does not change with other load on the machine,
so before/after figures taken on a busy machine stay comparable.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import payloads  # noqa: E402

SERVICE_PATH = "/cds-services/iv-iron-order-check"


def service_app(tmp: str):
    os.environ.setdefault("IRON_CDS_AUTH", "off")
    from cds_service.app import create_app
    from cds_service.config import Config

    app = create_app(Config(auth="off", database_url=f"sqlite:///{tmp}/inprocess.db"))
    for handler in logging.getLogger("iron_cds").handlers:   # production level, output discarded
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))
    return app


def settle_heap() -> None:
    """What the gunicorn config does in each worker once the app is loaded (both servers use it)."""
    from cds_service.ops import gunicorn_conf

    gunicorn_conf.post_worker_init(None)


def echo_app():
    import echo_app as echo

    return echo.create_app()


def bodies(count: int, **kind) -> list[bytes]:
    """``count`` request bodies that differ in hookInstance, so that nothing is reused between calls."""
    return list(fresh_bodies(count, **kind))


def fresh_bodies(count: int, **kind):
    """The same, made one at a time (only one large body in memory)."""
    template = payloads.hook_body(with_prefetch=True, **kind)
    for _ in range(count):
        template["hookInstance"] = str(uuid.uuid4())
        yield json.dumps(template).encode()


def environ(body: bytes) -> dict:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": SERVICE_PATH, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8080",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        # gunicorn always sets this; without it werkzeug reads the body through a slower limited stream
        "wsgi.input_terminated": True,
    }


def call(app, body: bytes) -> int:
    status = []
    result = app(environ(body), lambda s, h, exc_info=None: status.append(s))
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split()[0])


def per_call(app, requests: list[bytes]) -> dict:
    """CPU and wall ms per call over ``requests`` (after 20 warm-up calls on the first body)."""
    for _ in range(20):
        call(app, requests[0])
    cpu, wall = [], []
    for body in requests:
        c0, w0 = time.process_time(), time.perf_counter()
        status = call(app, body)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        if status != 200:
            raise SystemExit(f"status {status}")
    return {"cpu_ms_mean": round(statistics.fmean(cpu), 3), "wall_ms_p50": round(statistics.median(wall), 3),
            "wall_ms_mean": round(statistics.fmean(wall), 3)}


def instructions_child(server: str, size: str, calls: int) -> None:
    """Run under callgrind: only the calls inside ``functools.reduce`` are counted (--toggle-collect).

    ``calls`` may be 0: the count is then what the libraries' own reduce calls while the app is built cost
    (``instructions`` takes it off)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = service_app(tmp) if server == "service" else echo_app()
        settle_heap()
        requests = bodies(calls + 5, **KINDS[size])
        per_call(app, requests[:5])
        functools.reduce(lambda _, body: call(app, body), requests[5:], None)


def _collected(server: str, size: str, calls: int) -> int:
    python = os.path.realpath(sys.executable)
    # valgrind runs the interpreter's real file, which does not know it is in a venv: pass the path on
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=functools_reduce",
         "--callgrind-out-file=/dev/null", python, __file__, "--child", server, size, str(calls)],
        env=env, capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", done.stderr).group(1))


def instructions(calls: dict[str, int]) -> dict[tuple[str, str], float]:
    """Instructions per call for (server, size), each counted in its own valgrind run.

    Every functools.reduce call is counted, and libraries call it while the app is built (about 6 M
    instructions for the service, once per process): each server is also run with no call, and that count
    is taken off, so the figure is per call whatever the number of calls."""
    out = {}
    setup: dict[str, int] = {}
    for size, n in calls.items():
        for server in ("service", "echo"):
            if server not in setup:
                setup[server] = _collected(server, size, 0)
                print(f"{'(set-up)':>10} {server:>8}: {setup[server] / 1e6:8.2f} M instructions, taken off", flush=True)
            per_call = (_collected(server, size, n) - setup[server]) / n
            out[(server, size)] = per_call
            print(f"{size:>10} {server:>8}: {per_call / 1e6:8.2f} M instructions per call", flush=True)
    for size in calls:
        print(f"{size:>10} ratio service/echo: {out[('service', size)] / out[('echo', size)]:.2f}x")
    return out


KINDS = {"small": {"small": True}, "long": {}, "no-iv": {"small": True, "iv_iron": False},
         "long-no-iv": {"iv_iron": False},
         # as an EHR sends it: fhirServer and fhirAuthorization beside the prefetch (the others have neither)
         "no-iv-server": {"small": True, "iv_iron": False, "fhir_server": "https://ehr.example.org/fhir/r4"}}
# What a plain run and --instructions cover (long-no-iv, the long prefetch beside an oral draft, on request).
DEFAULT_KINDS = ("small", "long", "no-iv")


def _kinds(text: str) -> list[str]:
    chosen = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in chosen if kind not in KINDS]
    if unknown:
        raise SystemExit(f"unknown kind(s): {', '.join(unknown)} (known: {', '.join(KINDS)})")
    return chosen


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--profile", choices=sorted(KINDS), help="cProfile the service on one size instead")
    parser.add_argument("--instructions", action="store_true", help="instructions per call under callgrind")
    parser.add_argument("--kinds", default=",".join(DEFAULT_KINDS),
                        help=f"comma-separated, of: {', '.join(KINDS)} (plain run and --instructions)")
    parser.add_argument("--spin", choices=sorted(KINDS), help="only call the service (to run under py-spy)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        instructions_child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.instructions:
        print(f"load average before: {load_average()} (does not change instruction counts)")
        calls = {"small": 40, "long": 15, "no-iv": 40, "long-no-iv": 15, "no-iv-server": 40}
        instructions({kind: calls[kind] for kind in _kinds(args.kinds)})
        return
    with tempfile.TemporaryDirectory() as tmp:
        service, echo = service_app(tmp), echo_app()
        settle_heap()
        kinds = {kind: KINDS[kind] for kind in _kinds(args.kinds)}
        if args.spin:
            requests = bodies(args.calls, **KINDS[args.spin])
            print(per_call(service, requests))
            return
        if args.profile:
            import cProfile
            import pstats

            requests = bodies(args.calls, **KINDS[args.profile])
            per_call(service, requests[:20])
            profiler = cProfile.Profile()
            profiler.enable()
            per_call(service, requests)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(os.environ.get("ICDS_PROFILE_SORT", "cumulative")).print_stats(45)
            return
        print(f"load average before: {load_average()}")
        for name, kind in kinds.items():
            requests = bodies(args.calls, **kind)
            s, e = per_call(service, requests), per_call(echo, requests)
            print(f"{name:>10} ({len(requests[0]):>7} B): service CPU {s['cpu_ms_mean']:.3f} ms/call, "
                  f"echo {e['cpu_ms_mean']:.3f} ms/call, ratio {s['cpu_ms_mean'] / e['cpu_ms_mean']:.2f}x  "
                  f"(wall p50 {s['wall_ms_p50']:.3f} / {e['wall_ms_p50']:.3f})")
        print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
