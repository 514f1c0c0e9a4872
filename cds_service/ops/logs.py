"""Structured logs: one JSON object a line, with secrets scrubbed as a last line of defence.

The code never passes tokens or patient identifiers to the logger; the filter
below masks anything that still looks like a bearer token or a JWT.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

import orjson

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    return _BEARER.sub(r"\1[redacted]", _JWT.sub("[redacted-jwt]", text))


def _text(value) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    # orjson (a third of json.dumps's cost per line): int keys become strings and anything else
    # unknown is written with str(), as json.dumps(default=str) did; non-ASCII stays UTF-8.
    _OPTIONS = orjson.OPT_NON_STR_KEYS

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            text = orjson.dumps(entry, default=_text, option=self._OPTIONS).decode()
        except TypeError:   # e.g. an integer beyond 64 bits in an extra: the slower encoder takes anything
            text = json.dumps(entry, default=str)
        # The scrubbing regexes run only when something could match: each needs "eyJ" or "bearer" (any case).
        if "eyJ" in text or "bearer" in text.lower():
            text = scrub(text)
        return text


class JsonLineHandler(logging.StreamHandler):
    """A StreamHandler whose lock covers only the write of the finished line.

    logging.Handler holds its lock while the record is formatted too; with several threads per
    worker, a thread that lost the GIL while formatting kept the others waiting on that lock, and
    every release then had to wake one (a few per cent of a served call in the profile)."""

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return True
        with self.lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except Exception:
                self.handleError(record)
        return True


_configured = False


def configure_logging(level: str = "INFO") -> None:
    global _configured
    logger = logging.getLogger("iron_cds")
    logger.setLevel(level)
    if _configured:
        return
    handler = JsonLineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = True  # lets pytest's caplog see our records
    _configured = True
