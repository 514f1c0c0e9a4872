"""Benchmark: iron-cds under gunicorn (production settings) against a bare Flask echo.

    .venv/bin/python benchmarks/run.py [--requests 2000] [--concurrency 16] [--fhir-delay 0.1]

Prints p50 / p95 / p99 latency, throughput and per-worker peak memory for
  (a) full prefetch with a realistic history,
  (b) no prefetch, against a FHIR server that answers each read after a fixed delay,
  (c) the same payload as (a) against a bare Flask echo app under the same settings,
and the in-process engine time per hook. Results go to benchmarks/results/.
This is a benchmark, not a test: it asserts nothing.
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a FHIR server that answers after a fixed delay (scenario b) ---------------------------------
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
    bodies = {key: json.dumps(res[0] if key == "patient" else payloads.searchset(res)).encode() for key,
              res in resources.items()}

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


def worker_peak_rss_mb(master_pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of each worker of a gunicorn master."""
    peaks = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != master_pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(round(int(line.split()[1]) / 1024, 1))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(peaks)


# --- load generator (separate process, asyncio keep-alive connections) ----------------------------
async def _connection(port: int, request: bytes, count: int, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(count):
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


async def _drive(port: int, body: bytes, total: int, concurrency: int) -> tuple[list[float], list[int], float]:
    request = (
        f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[int] = []
    per = max(1, total // concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, per, latencies, errors) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def _load_process(port, body, total, concurrency, warmup, queue):
    asyncio.run(_drive(port, body, warmup, concurrency))
    queue.put(asyncio.run(_drive(port, body, total, concurrency)))


def load(port: int, body: bytes, total: int, concurrency: int, warmup: int) -> dict:
    queue = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(target=_load_process,
                                                        args=(port, body, total, concurrency, warmup, queue))
    proc.start()
    latencies, errors, elapsed = queue.get(timeout=900)
    proc.join()
    return summarise(latencies, errors, elapsed)


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


# --- in-process engine time ------------------------------------------------------------------------
def engine_time(iterations: int = 300) -> dict:
    os.environ.setdefault("IRON_CDS_AUTH", "off")
    from cds_service.app import create_app
    from cds_service.cds_hooks.cards import build_response
    from cds_service.config import Config
    from cds_service.engine import evaluate
    from cds_service.engine.model import EvaluationContext
    from cds_service.fhir.access import gather_record

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Config(auth="off", database_url=f"sqlite:///{tmp}/bench.db"))
        state = app.extensions["iron_cds"]
        body = payloads.hook_body(with_prefetch=True)
        context = body["context"]
        feeds = {k.key: k.feeds for k in state.prefetch}
        ctx = EvaluationContext(patient_id=context["patientId"], encounter_id=context["encounterId"],
                                user_id=context["userId"], hook=body["hook"], now=datetime.now(timezone.utc),
                                jurisdiction=state.config.jurisdiction)
        record_times, engine_times, cards = [], [], 0
        with app.app_context():
            for _ in range(iterations):
                t0 = time.perf_counter()
                record = gather_record(body, state.prefetch, state)
                t1 = time.perf_counter()
                findings = evaluate(context["draftOrders"], None, record, state.knowledge, ctx, feeds)
                response = build_response(findings, state.knowledge)
                t2 = time.perf_counter()
                record_times.append((t1 - t0) * 1000)
                engine_times.append((t2 - t1) * 1000)
                cards = len(response["cards"])
        resources = sum(len(v) for v in record.resources.values())
    return {
        "iterations": iterations,
        "resources_in_record": resources,
        "cards_per_hook": cards,
        "record_from_prefetch_ms_p50": round(statistics.median(record_times), 3),
        "engine_and_cards_ms_p50": round(statistics.median(engine_times), 3),
        "engine_and_cards_ms_p99": round(percentile(engine_times, 99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario (a) and (c)")
    parser.add_argument("--requests-no-prefetch", type=int, default=400, help="requests for scenario (b)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=160)
    parser.add_argument("--fhir-delay", type=float, default=0.1, help="seconds the FHIR server waits per read in (b)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="iron-cds-bench-"))
    env = {"IRON_CDS_AUTH": "off", "IRON_CDS_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
           "IRON_CDS_LOG_LEVEL": "WARNING"}
    fhir_port, svc_port, echo_port = free_port(), free_port(), free_port()
    fhir = multiprocessing.get_context("spawn").Process(target=run_fhir_server, args=(fhir_port, args.fhir_delay),
                                                        daemon=True)
    fhir.start()
    service = start_gunicorn("cds_service.app:create_app()", svc_port, workdir, env)
    echo = start_gunicorn("echo_app:create_app()", echo_port, workdir, env, chdir=HERE)
    try:
        with_prefetch = json.dumps(payloads.hook_body(with_prefetch=True)).encode()
        no_prefetch = json.dumps(payloads.hook_body(with_prefetch=False,
                                                    fhir_server=f"http://127.0.0.1:{fhir_port}")).encode()
        results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                               "python": platform.python_version()},
                   "settings": vars(args), "payload_bytes": len(with_prefetch)}
        # (c) first and again last, so that drift in machine load shows up in the figures.
        results["c_echo"] = load(echo_port, with_prefetch, args.requests, args.concurrency, args.warmup)
        results["a_full_prefetch"] = load(svc_port, with_prefetch, args.requests, args.concurrency, args.warmup)
        results["c_echo_again"] = load(echo_port, with_prefetch, args.requests, args.concurrency, args.warmup)
        results["b_no_prefetch"] = load(svc_port, no_prefetch, args.requests_no_prefetch, args.concurrency,
                                        args.concurrency)
        results["b_no_prefetch_one_at_a_time"] = load(svc_port, no_prefetch, 40, 1, 4)
        results["b_fhir_round_trip_ms"] = round(args.fhir_delay * 1000, 1)
        results["worker_peak_rss_mb"] = {"service": worker_peak_rss_mb(service.pid),
                                         "echo": worker_peak_rss_mb(echo.pid)}
    finally:
        for proc in (service, echo):
            proc.terminate()
            proc.wait(timeout=30)
        fhir.terminate()
    results["in_process"] = engine_time()
    c_p50 = min(results["c_echo"]["p50_ms"], results["c_echo_again"]["p50_ms"])
    c_p99 = min(results["c_echo"]["p99_ms"], results["c_echo_again"]["p99_ms"])
    results["ratio_a_over_c"] = {"p50": round(results["a_full_prefetch"]["p50_ms"] / c_p50, 2),
                                 "p99": round(results["a_full_prefetch"]["p99_ms"] / c_p99, 2)}
    results["ratio_b_over_round_trip"] = {"p50": round(results["b_no_prefetch"]["p50_ms"] / (args.fhir_delay * 1000),
                                                       2),
                                          "p99": round(results["b_no_prefetch"]["p99_ms"] / (args.fhir_delay * 1000),
                                                       2)}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in (f"{stamp}.json", "latest.json"):
        (out / name).write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nresults: {out / 'latest.json'}")


def print_table(r: dict) -> None:
    print(f"\n{'scenario':<34}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}{'non-200':>9}")
    for key, label in (("a_full_prefetch", "(a) full prefetch"), ("b_no_prefetch", "(b) no prefetch, FHIR reads"),
                       ("c_echo", "(c) bare Flask echo"), ("c_echo_again", "(c) bare Flask echo, again")):
        s = r[key]
        print(f"{label:<34}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}{s['throughput_rps']:>9}{s['non_200']:>9}")
    print(f"\nratio (a)/(c): p50 {r['ratio_a_over_c']['p50']}x, p99 {r['ratio_a_over_c']['p99']}x   (target <= 2x)")
    print(
        f"ratio (b)/one FHIR round trip ({r['b_fhir_round_trip_ms']} ms): p50 {r['ratio_b_over_round_trip']['p50']}x, "
          f"p99 {r['ratio_b_over_round_trip']['p99']}x at {r['settings']['concurrency']} concurrent; "
          f"one hook at a time: p50 {r['b_no_prefetch_one_at_a_time']['p50_ms']} ms   (target <= 1.5x)")
    ip = r["in_process"]
    print(f"in-process engine + cards per hook: p50 {ip['engine_and_cards_ms_p50']} ms, "
          f"p99 {ip['engine_and_cards_ms_p99']} ms "
          f"({ip['resources_in_record']} resources, {ip['cards_per_hook']} cards; target <= 2 ms); "
          f"record from prefetch p50 {ip['record_from_prefetch_ms_p50']} ms")
    rss = r['worker_peak_rss_mb']
    print(f"worker peak RSS MB: service {rss['service']}, echo {rss['echo']}   (target <= 150 MB)")


if __name__ == "__main__":
    main()
