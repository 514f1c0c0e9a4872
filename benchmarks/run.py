"""Benchmark: iron-cds under gunicorn against a bare Flask echo, side by side, in one run.

    .venv/bin/python benchmarks/run.py [--rounds 3] [--requests 1500] [--concurrency 16] [--layout 2x1]

Both servers run under the production gunicorn settings (cds_service/ops/gunicorn_conf.py; the
service logs at INFO, metrics are multi-process, as in production). For each request size
  small         one order, a few resources (about 3.5 kB)
  long-history  300 Observations, 6 earlier infusions, allergies, conditions (about 147 kB)
each round drives the echo and then the service with the same number of requests from a separate
process (16 keep-alive connections; every request carries its own hookInstance, so no two bodies are
the same), and computes service / echo for p50 and p99 within that round. Rounds alternate which
server goes first, so drift in the machine's load is shared. It prints every round, the median and the
spread (min-max) of the ratios, server CPU ms per request (from /proc of the gunicorn processes) and the
load average before and after. ``--fhir`` adds the no-prefetch scenario (fallback FHIR reads against a
local server that answers after 100 ms). Results go to benchmarks/results/. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import payloads  # noqa: E402

SERVICE_PATH = "/cds-services/iv-iron-order-check"
SIZES = {"small": {"small": True}, "long-history": {},
         # not run by default: the floor, the small request with an oral antibiotic instead of IV iron,
         # and the same draft beside the long prefetch (which a call without IV iron must not read)
         "small-no-iv-iron": {"small": True, "iv_iron": False},
         "long-history-no-iv-iron": {"iv_iron": False}}
_MARK = "00000000-0000-4000-8000-000000000000"   # placeholder hookInstance, replaced per request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- a FHIR server that answers after a fixed delay (--fhir) -------------------------------------
def _key_for(path: str, query: dict) -> str | None:
    rtype = path.strip("/").split("/")[0]
    codes = ",".join(query.get("code", []))
    if rtype == "Patient":
        return "patient"
    if rtype == "Observation":
        for code, key in (("29463-7", "weight"), ("718-7", "labs"), ("72514-3", "painScores"),
                          ("8480-6", "vitalSigns")):
            if code in codes:
                return key
    return {"AllergyIntolerance": "allergies", "Condition": "conditions",
            "MedicationAdministration": "ironAdministrations", "AdverseEvent": "adverseEvents"}.get(rtype)


def run_fhir_server(port: int, delay: float) -> None:
    resources = payloads.patient_resources(datetime.now(timezone.utc))
    bodies = {key: json.dumps(res[0] if key == "patient" else payloads.searchset(res)).encode()
              for key, res in resources.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms to every answer

        def do_GET(self):
            parts = urlsplit(self.path)
            key = _key_for(parts.path, parse_qs(parts.query))
            time.sleep(delay)
            body = bodies.get(key) if key else None
            status = 200 if body else 404
            body = body or (b'{"resourceType": "OperationOutcome", '
                            b'"issue": [{"severity": "error", "code": "not-found"}]}')
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # 16 hooks x 9 parallel reads connect at once

    Server(("127.0.0.1", port), Handler).serve_forever()


# --- servers under gunicorn ----------------------------------------------------------------------
def start_gunicorn(app_spec: str, port: int, workdir: Path, extra_env: dict,
                   chdir: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, **extra_env)
    env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-", dir=workdir)
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "cds_service" / "ops" / "gunicorn_conf.py"),
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if chdir:
        cmd += ["--chdir", str(chdir)]
    cmd.append(app_spec)
    proc = subprocess.Popen(cmd, env=env, cwd=str(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cds-services", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{app_spec} did not start on port {port}")


def _children(master_pid: int) -> list[Path]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master_pid:
                    out.append(entry)
            except (OSError, ValueError, IndexError):
                continue
    return out


def server_cpu_seconds(master_pid: int) -> float:
    """user + system CPU of a gunicorn master and its workers so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in [Path(f"/proc/{master_pid}"), *_children(master_pid)]:
        try:
            fields = entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / ticks


def worker_peak_rss_mb(master_pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of each worker of a gunicorn master."""
    peaks = []
    for entry in _children(master_pid):
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
        except (OSError, ValueError):
            continue
    return sorted(peaks)


# --- load generator (separate process, asyncio keep-alive connections) ----------------------------
def _requests(port: int, kind: dict, count: int, fhir_server: str | None) -> list[bytes]:
    """``count`` whole HTTP requests, each with its own hookInstance (same length, so one template)."""
    body = payloads.hook_body(with_prefetch=fhir_server is None, fhir_server=fhir_server, **kind)
    body["hookInstance"] = _MARK
    before, after = json.dumps(body).encode().split(_MARK.encode())
    head = (f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(before) + len(_MARK) + len(after)}\r\nConnection: keep-alive\r\n\r\n").encode()
    return [head + before + str(uuid.uuid4()).encode() + after for _ in range(count)]


async def _connection(port: int, requests: list[bytes], latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for request in requests:
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            errors.append(status)
    writer.close()


async def _drive(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    errors: list[int] = []
    per = max(1, len(requests) // concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, requests[i * per:(i + 1) * per], latencies, errors)
                           for i in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def _load_process(port, kind, total, concurrency, warmup, fhir_server, queue):
    try:
        asyncio.run(_drive(port, _requests(port, kind, warmup, fhir_server), concurrency))
        requests = _requests(port, kind, total, fhir_server)
        queue.put("ready")
        queue.put(asyncio.run(_drive(port, requests, concurrency)))
    except Exception as exc:   # tell the parent at once instead of leaving it waiting
        queue.put(("failed", repr(exc)))
        queue.put(("failed", repr(exc)))


def _get(queue):
    item = queue.get(timeout=900)
    if isinstance(item, tuple) and item and item[0] == "failed":
        raise SystemExit(f"load generator failed: {item[1]}")
    return item


def load(server: subprocess.Popen, port: int, kind: dict, total: int, concurrency: int, warmup: int,
         fhir_server: str | None = None) -> dict:
    """Drive one server; the CPU it spends is counted only while the measured requests run."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(port, kind, total, concurrency, warmup, fhir_server, queue))
    proc.start()
    _get(queue)                                  # warm-up done, requests built
    cpu_before = server_cpu_seconds(server.pid)
    latencies, errors, elapsed = _get(queue)
    cpu = server_cpu_seconds(server.pid) - cpu_before
    proc.join()
    result = summarise(latencies, errors, elapsed)
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(1, len(latencies)), 2)
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarise(latencies: list[float], errors: list[int], elapsed: float) -> dict:
    return {
        "requests": len(latencies),
        "non_200": len(errors),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
    }


def compare(servers: dict, ports: dict, size: str, args) -> list[dict]:
    """``args.rounds`` rounds of echo and service on one request size, alternating which goes first."""
    rounds = []
    for n in range(args.rounds):
        order = ("echo", "service") if n % 2 == 0 else ("service", "echo")
        load_before = load_average()
        runs = {name: load(servers[name], ports[name], SIZES[size], args.requests, args.concurrency, args.warmup)
                for name in order}
        rounds.append({
            "load_average_before": load_before, "load_average_after": load_average(), **runs,
            "ratio_p50": round(runs["service"]["p50_ms"] / runs["echo"]["p50_ms"], 2),
            "ratio_p99": round(runs["service"]["p99_ms"] / runs["echo"]["p99_ms"], 2),
            "ratio_cpu": round(runs["service"]["server_cpu_ms_per_request"]
                               / max(0.01, runs["echo"]["server_cpu_ms_per_request"]), 2),
        })
        print_round(size, n + 1, rounds[-1])
    return rounds


def spread(rounds: list[dict], key: str) -> dict:
    values = [r[key] for r in rounds]
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per request size (each: echo + service)")
    parser.add_argument("--requests", type=int, default=1500, help="measured requests per server per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=160)
    parser.add_argument("--layout", help="WORKERSxTHREADS for both servers (default: gunicorn_conf.py's)")
    parser.add_argument("--sizes", default="small,long-history",
                        help="comma-separated: small,long-history,small-no-iv-iron,long-history-no-iv-iron")
    parser.add_argument("--fhir", action="store_true", help="also the no-prefetch scenario with fallback FHIR reads")
    parser.add_argument("--fhir-delay", type=float, default=0.1, help="seconds the FHIR server waits per read")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="iron-cds-bench-"))
    env = {"IRON_CDS_AUTH": "off", "IRON_CDS_DATABASE_URL": f"sqlite:///{workdir}/bench.db"}
    if args.layout:
        workers, threads = args.layout.lower().split("x")
        env.update(IRON_CDS_WORKERS=workers, IRON_CDS_THREADS=threads)
    ports = {"service": free_port(), "echo": free_port()}
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version()},
               "settings": vars(args), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "load_average_at_start": load_average()}
    print(f"load average at start: {results['load_average_at_start']}  "
          "(2 cores: above 2 means others compete for the CPU)")
    servers = {"service": start_gunicorn("cds_service.app:create_app()", ports["service"], workdir, env),
               "echo": start_gunicorn("echo_app:create_app()", ports["echo"], workdir, env, chdir=HERE)}
    fhir = None
    try:
        for size in args.sizes.split(","):
            rounds = compare(servers, ports, size, args)
            results[size] = {"rounds": rounds, "ratio_p50": spread(rounds, "ratio_p50"),
                             "ratio_p99": spread(rounds, "ratio_p99"),
                             "ratio_cpu": spread(rounds, "ratio_cpu")}
        if args.fhir:
            fhir_port = free_port()
            fhir = multiprocessing.get_context("spawn").Process(target=run_fhir_server,
                                                                args=(fhir_port, args.fhir_delay), daemon=True)
            fhir.start()
            time.sleep(1.0)
            server = f"http://127.0.0.1:{fhir_port}"
            results["no_prefetch"] = load(servers["service"], ports["service"], {}, 400, args.concurrency,
                                          args.concurrency, server)
            results["no_prefetch_one_at_a_time"] = load(servers["service"], ports["service"], {}, 40, 1, 4, server)
        results["worker_peak_rss_mb"] = {name: worker_peak_rss_mb(proc.pid) for name, proc in servers.items()}
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
        if fhir is not None:
            fhir.terminate()
    results["load_average_at_end"] = load_average()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{stamp}.json", "latest.json"):
        (out / name).write_text(json.dumps(results, indent=2))
    print_summary(results, args)
    print(f"\nresults: {out / 'latest.json'}")


def print_round(size: str, n: int, r: dict) -> None:
    s, e = r["service"], r["echo"]
    print(f"{size:<13} round {n}: service p50 {s['p50_ms']:>7} p99 {s['p99_ms']:>7} ms {s['throughput_rps']:>6} req/s "
          f"{s['server_cpu_ms_per_request']:>5} CPU ms/req | echo p50 {e['p50_ms']:>7} p99 {e['p99_ms']:>7} ms "
          f"{e['throughput_rps']:>6} req/s {e['server_cpu_ms_per_request']:>5} CPU ms/req | "
          f"ratio p50 {r['ratio_p50']}x p99 {r['ratio_p99']}x CPU {r['ratio_cpu']}x | "
          f"load {r['load_average_before']} -> {r['load_average_after']}", flush=True)


def print_summary(r: dict, args) -> None:
    print(f"\nservice / echo at {args.concurrency} concurrent, {args.rounds} rounds of {args.requests} requests each "
          f"(median, min-max over rounds; goal <= 1.5x):")
    for size in args.sizes.split(","):
        x = r[size]
        print(f"  {size:<13} p50 {x['ratio_p50']['median']}x ({x['ratio_p50']['min']}-{x['ratio_p50']['max']}), "
              f"p99 {x['ratio_p99']['median']}x ({x['ratio_p99']['min']}-{x['ratio_p99']['max']}), "
              f"server CPU per request {x['ratio_cpu']['median']}x ({x['ratio_cpu']['min']}-{x['ratio_cpu']['max']})")
    if "no_prefetch" in r:
        print(f"  no prefetch, fallback reads of {args.fhir_delay * 1000:g} ms: p50 {r['no_prefetch']['p50_ms']} ms at "
              f"{args.concurrency} concurrent, {r['no_prefetch_one_at_a_time']['p50_ms']} ms one at a time")
    print(f"worker peak RSS MB: service {r['worker_peak_rss_mb']['service']}, "
          f"echo {r['worker_peak_rss_mb']['echo']}   (goal <= 150 MB)")
    print(f"load average: start {r['load_average_at_start']}, end {r['load_average_at_end']}")


if __name__ == "__main__":
    main()
