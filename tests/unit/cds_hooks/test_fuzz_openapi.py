"""Schema-driven fuzzing: schemathesis generates calls from /openapi.json and runs them in-process.

Positive (schema-valid) and negative (schema-violating) bodies, headers and
paths, against the WSGI app with auth off. Checks: no 5xx, every status and
content type documented, responses match their documented schemas.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.app import create_app
from cds_service.config import Config
from support.fuzz import count, fuzz_report  # noqa: F401  (registers the request-count summary)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _Unexpected(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        if getattr(record, "event", None) == "unexpected-error":
            self.records.append(record)


@pytest.fixture(scope="module")
def crash_log():
    handler = _Unexpected()
    logging.getLogger("iron_cds").addHandler(handler)
    yield handler.records
    logging.getLogger("iron_cds").removeHandler(handler)


def _app():
    # Loaded at import: schemathesis parametrizes the test from the document the app serves.
    folder = tempfile.mkdtemp(prefix="iron-cds-schemathesis-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    database = Path(folder) / "fuzz.db"
    return create_app(Config(auth="off", database_url=f"sqlite:///{database}"))


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=60, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_api_conforms_to_its_openapi_document(case, crash_log):
    count("schemathesis")
    crash_log.clear()
    case.call_and_validate(checks=CHECKS)
    assert not crash_log, f"the request crashed the service: {[r.exc_info[1] for r in crash_log if r.exc_info]!r}"
