"""``logs.info`` writes the line ``logger.info`` would, without a LogRecord when our JSON handler is the only
one listening, and is ``logger.info`` itself in every other set-up."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.ops import logs
from cds_service.ops.logs import JsonFormatter, JsonLineHandler

NOW = 1764888296.1355   # any instant; the direct line and the record's line read the same clock


@contextmanager
def json_tree():
    """``test-logs.app`` under ``test-logs``, which holds one JSON handler and stops propagation (pytest's
    handlers on the root stay out), as ``iron_cds`` is set up in production. Entered inside the test:
    pytest also attaches its handlers to the loggers that do not propagate when a test starts."""
    top, child = logging.getLogger("test-logs"), logging.getLogger("test-logs.app")
    handler = JsonLineHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    top.addHandler(handler)
    top.setLevel(logging.INFO)
    top.propagate = False
    try:
        yield child, handler
    finally:
        top.removeHandler(handler)
        top.propagate = True


def written(handler) -> list[str]:
    lines = handler.stream.getvalue().split("\n")[:-1]   # not splitlines(): a message may hold U+0085
    handler.stream.seek(0)
    handler.stream.truncate()
    return lines


def usual_line(logger, message, fields) -> str:
    """What ``logger.info`` makes of it: the record, formatted by our formatter."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None, extra=fields)
    record.created = NOW
    return JsonFormatter().format(record)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["bEaReR abc.def", "eyJhbGciOi.eyJzdWIiOiIx.c2ln"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)),
    max_leaves=8)
field_names = st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(["_private", "event", "time", "level"]))


@settings(max_examples=300, deadline=None)
@given(message=st.text(max_size=30), fields=st.dictionaries(field_names, values, max_size=6))
def test_the_direct_line_is_the_line_logger_info_writes(message, fields):
    if not logs._STANDARD.isdisjoint(fields):
        return   # logger.info refuses these (next test)
    with json_tree() as (logger, handler), pytest.MonkeyPatch.context() as patch:
        assert logs._sole_json_handler(logger) is handler
        patch.setattr("time.time", lambda: NOW)
        logs.info(logger, message, fields)
        assert written(handler) == [usual_line(logger, message, fields)]


def test_a_field_that_names_a_record_attribute_is_refused_as_logger_info_refuses_it():
    with json_tree() as (logger, _):
        refused_alike(logger)


def refused_alike(logger):
    for name in ("message", "asctime", "lineno", "name"):
        with pytest.raises(KeyError, match="Attempt to overwrite"):
            logs.info(logger, "m", {name: 1})
        with pytest.raises(KeyError, match="Attempt to overwrite"):
            logger.info("m", extra={name: 1})


def other_set_ups():
    """Each makes a record necessary: someone else could see it, or it must not be written."""
    def second_handler(logger, handler):
        logger.addHandler(logging.NullHandler())
        return lambda: logger.removeHandler(logger.handlers[-1])

    def logger_filter(logger, handler):
        logger.addFilter(lambda record: True)
        return logger.filters.clear

    def handler_filter(logger, handler):
        handler.addFilter(lambda record: True)
        return handler.filters.clear

    def quiet_handler(logger, handler):
        handler.setLevel(logging.WARNING)
        return lambda: handler.setLevel(logging.NOTSET)

    def quiet_logger(logger, handler):
        logger.setLevel(logging.WARNING)
        return lambda: logger.setLevel(logging.NOTSET)

    def record_factory(logger, handler):
        logging.setLogRecordFactory(lambda *a, **k: logging.LogRecord(*a, **k))
        return lambda: logging.setLogRecordFactory(logging.LogRecord)

    def propagating(logger, handler):
        logger.parent.propagate = True   # pytest's handlers on the root see it too
        return lambda: setattr(logger.parent, "propagate", False)

    return [second_handler, logger_filter, handler_filter, quiet_handler, quiet_logger, record_factory, propagating]


@pytest.mark.parametrize("set_up", other_set_ups(), ids=lambda f: f.__name__)
def test_any_other_set_up_goes_through_logger_info(monkeypatch, set_up):
    with json_tree() as (logger, handler):
        undo = set_up(logger, handler)
        try:
            assert logs._sole_json_handler(logger) is None
            usual = []
            monkeypatch.setattr(logging.Logger, "info", lambda self, *a, **k: usual.append((self, a, k)))
            logs.info(logger, "hook call", {"event": "e"})
            assert usual == [(logger, ("hook call",), {"extra": {"event": "e"}, "stacklevel": 2})]
            assert written(handler) == []
        finally:
            undo()


def test_under_caplog_the_record_is_made_where_the_caller_called(caplog):
    logger = logging.getLogger("iron_cds.test-direct")
    with caplog.at_level(logging.INFO, logger="iron_cds"):
        logs.info(logger, "hook call", {"event": "hook-call", "cards": {}})
    (record,) = caplog.records
    assert (record.event, record.cards, record.pathname) == ("hook-call", {}, __file__)


def test_a_stream_that_fails_is_reported_with_the_record_as_the_handler_reports_it(capsys):
    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("disk full")

    with json_tree() as (logger, handler):
        handler.stream = Broken()
        logs.info(logger, "hook call", {"event": "hook-call"})
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "OSError: disk full" in err and "Message: 'hook call'" in err


def test_a_line_that_cannot_be_written_as_json_goes_through_logger_info(monkeypatch):
    cycle = []
    cycle.append(cycle)   # neither encoder takes it
    with json_tree() as (logger, _):
        assert logs._sole_json_handler(logger) is not None
        usual = []
        monkeypatch.setattr(logging.Logger, "info", lambda self, *a, **k: usual.append(a))
        logs.info(logger, "hook call", {"loop": cycle})
    assert usual == [("hook call",)]


def test_a_hook_call_set_up_as_in_production_writes_its_line_directly(app, monkeypatch):
    from support.hook_requests import HOOK_URL, hook_request, medication_request

    top = logging.getLogger("iron_cds")
    monkeypatch.setattr(top, "propagate", False)   # pytest's handlers on the root out of reach, as in production
    (handler,) = top.handlers
    monkeypatch.setattr(handler, "stream", io.StringIO())
    through_logger, real_info = [], logging.Logger.info

    def info(self, *args, **kwargs):
        through_logger.append(self.name)
        real_info(self, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "info", info)
    body = hook_request(medication_request())
    assert app.test_client().post(HOOK_URL, json=body).status_code == 200
    lines = [json.loads(line) for line in handler.stream.getvalue().splitlines()]
    (summary,) = [line for line in lines if line.get("event") == "hook-call"]
    assert (summary["level"], summary["logger"], summary["message"]) == ("INFO", "iron_cds.hooks", "hook call")
    assert summary["hookInstance"] == body["hookInstance"] and list(summary)[4:] == [
        "event", "hookInstance", "service", "hook", "duration_ms", "cards", "data_sources"]
    assert "iron_cds.hooks" not in through_logger
