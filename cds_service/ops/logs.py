"""Structured logs: one JSON object a line, with secrets scrubbed as a last line of defence.

The code never passes tokens or patient identifiers to the logger; the filter
below masks anything that still looks like a bearer token or a JWT.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable
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
    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return json_line(record.created, record.levelname, record.name, record.getMessage(),
                         _extras(record.__dict__), exception)


def _extras(fields: dict) -> dict:
    """What a line shows of a record's attributes (or of the fields given to ``info``): the extras."""
    return {key: value for key, value in fields.items() if key not in _STANDARD and not key.startswith("_")}


# orjson (a third of json.dumps's cost per line): int keys become strings and anything else
# unknown is written with str(), as json.dumps(default=str) did; non-ASCII stays UTF-8.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def json_line(created: float, level: str, logger: str, message: str, extras: dict, exception: str | None = None) -> str:
    """One log line: time, level, logger, message, then the extras (and the traceback, if any)."""
    entry = {
        "time": datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
    }
    entry.update(extras)
    if exception is not None:
        entry["exception"] = exception
    try:
        text = orjson.dumps(entry, default=_text, option=_OPTIONS).decode()
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
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return True
        self.write_line(line, lambda: record)
        return True

    def write_line(self, line: str, record: Callable[[], logging.LogRecord]) -> None:
        """Write one formatted line; a failing stream is reported with ``record()`` (``info`` makes one only then)."""
        with self.lock:
            try:
                self.stream.write(line + self.terminator)
                self.stream.flush()
            except Exception:
                self.handleError(record())


def info(logger: logging.Logger, message: str, fields: dict) -> None:
    """``logger.info(message, extra=fields)``: the same line, written straight by our JSON handler when it is the
    only one that would see the record (as configured here, in production). Making the LogRecord, finding the
    caller and walking the handlers were two thirds of the cost of a hook call's line."""
    handler = _sole_json_handler(logger)
    line = _direct_line(logger, message, fields) if handler is not None else None
    if line is None:
        logger.info(message, extra=fields, stacklevel=2)
        return
    handler.write_line(line, lambda: logger.makeRecord(
        logger.name, logging.INFO, "(unknown file)", 0, message, (), None, extra=fields))


def _direct_line(logger: logging.Logger, message: str, fields: dict) -> str | None:
    """The line ``logger.info`` would write; None where it would refuse the fields (a KeyError for a name a
    record already has) or fail to format them, which it then reports itself."""
    if not _STANDARD.isdisjoint(fields):
        return None
    try:
        return json_line(time.time(), logging.getLevelName(logging.INFO), logger.name, message, _extras(fields))
    except Exception:
        return None


def _sole_json_handler(logger: logging.Logger) -> JsonLineHandler | None:
    """Our JSON handler, if an INFO record of ``logger`` would reach it and nothing else: a plain logger and
    record factory, no filter, no other handler up the hierarchy (under pytest, caplog's handler on the root
    makes this None, so the tests of the usual path see every record)."""
    if (type(logger) is not logging.Logger or logger.disabled or logger.filters
            or logging.getLogRecordFactory() is not logging.LogRecord or not logger.isEnabledFor(logging.INFO)):
        return None
    handlers, node = [], logger
    while node is not None:
        handlers += node.handlers
        node = node.parent if node.propagate else None
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (type(handler) is JsonLineHandler and type(handler.formatter) is JsonFormatter and not handler.filters
            and handler.level <= logging.INFO):
        return handler
    return None


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
