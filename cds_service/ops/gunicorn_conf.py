"""gunicorn settings for production, used by ``iron-cds serve`` and the Dockerfile.

Each setting can be tuned from the environment without editing this file.
"""

import multiprocessing
import os

bind = os.environ.get("IRON_CDS_BIND", "0.0.0.0:8080")

# Hook calls are short and mostly CPU (JSON + rules) with some I/O (fallback FHIR
# reads, the store): a few processes per core, each with a few threads for the I/O waits.
workers = int(os.environ.get("IRON_CDS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("IRON_CDS_THREADS", "4"))
worker_class = "gthread"

# EHRs give up after a few seconds (the spec asks for ~500 ms); a worker stuck for
# longer than that is of no use to anyone, so recycle it well before EHR patience
# would matter for the next call.
timeout = int(os.environ.get("IRON_CDS_WORKER_TIMEOUT", "15"))
graceful_timeout = int(os.environ.get("IRON_CDS_GRACEFUL_TIMEOUT", "20"))  # finish in-flight calls on SIGTERM
keepalive = 5
# No header-read deadline: gunicorn has no such setting, and a gthread worker thread, once a client's
# first byte arrives, blocks reading the headers for as long as the client trickles them (`timeout`
# is a worker heartbeat and does not fire). Run behind a buffering proxy (deploy/nginx, the Ingress).

# Requests are never logged with their URLs (they carry no PHI, but the hook logs say what matters).
accesslog = None
errorlog = "-"


def post_worker_init(worker):
    # The app is loaded: everything alive now (modules, knowledge, compiled matchers: ~90,000 objects)
    # lives as long as the worker, so move it out of the collector's sight (gc.freeze). A long-history
    # call then no longer pays for full collections that walk all of it (0.6 ms per call, averaged), and
    # with a first-generation threshold above what one call holds at once (a 300-Observation request
    # parses into ~3,000 containers, a 3,000-Observation one of 1.3 MB into ~30,000: 2 ms of collections
    # per call at a threshold of 10,000) a call triggers no collection at all: its objects are freed by
    # reference counting when it ends. Reference cycles are still collected, only less often.
    import gc

    gc.freeze()
    gc.set_threshold(50_000, 10, 10)


def child_exit(server, worker):
    # Multi-process metrics: drop the dead worker's live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
