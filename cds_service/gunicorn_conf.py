"""gunicorn settings for production (used by ``iron-cds serve`` and the Dockerfile)."""

import multiprocessing
import os

bind = os.environ.get("IRON_CDS_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("IRON_CDS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("IRON_CDS_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
