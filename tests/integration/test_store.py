"""The feedback / audit store, on SQLite and on PostgreSQL (see postgres_plugin)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from cds_service.config import ConfigError
from cds_service.store import Store
from support.store_fill import give_feedback, issue


def card(uuid, topic="observation-period", indicator="info"):
    return {"uuid": uuid, "indicator": indicator, "summary": "s",
            "source": {"label": "iron-cds", "topic": {"system": "urn:iron-cds:card-topic", "code": topic}}}


def accepted(card_uuid, when="2026-01-05T10:00:00Z", suggestions=("s-1",)):
    return {"card": card_uuid, "outcome": "accepted", "outcomeTimestamp": when,
            "acceptedSuggestions": [{"id": s} for s in suggestions]}


def overridden(card_uuid, reason=None, when="2026-01-05T10:00:00Z", comment=None):
    item = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": when}
    if reason or comment:
        item["overrideReason"] = {}
        if reason:
            item["overrideReason"]["reason"] = {"system": "urn:iron-cds:override-reason", "code": reason,
                                                "display": reason.replace("-", " ")}
        if comment:
            item["overrideReason"]["userComment"] = comment
    return item


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.dispose()


def test_issued_cards_are_remembered_with_their_topic(store):
    issue(store, "svc", "order-sign", [card("c1"), card("c2", "dose-limit", "warning"),
                                                     {"summary": "no uuid"}])
    assert store.card_topics(["c1", "c2", "never-issued"]) == {"c1": "observation-period", "c2": "dose-limit"}
    assert store.card_topics([]) == {}


def test_a_card_recorded_twice_is_one_row_and_no_error(store):
    issue(store, "svc", "order-select", [card("c1")])
    issue(store, "svc", "order-sign", [card("c1")])
    assert store.feedback_report()["topics"]["observation-period"]["issued"] == 1


def test_feedback_repeats_are_no_ops_within_and_across_batches(store):
    first = store.store_feedback("svc", [accepted("c1"), overridden("c2", "patient-declined"), accepted("c1")])
    assert first == [True, True, False]
    assert give_feedback(store, "svc", [accepted("c1"), overridden("c2", "patient-declined")]) == 0
    # the same card at another time is another event, stored (the report still counts the card once)
    assert give_feedback(store, "svc", [accepted("c1", when="2026-01-05T10:00:01Z")]) == 1


def test_report_has_the_contract_shape_and_counts_cards_once(store):
    issue(store, "svc", "order-sign", [card("c1"), card("c2"), card("c3"), card("d1", "dose-limit")])
    give_feedback(store, "svc", [
        accepted("c1"),
        accepted("c1", when="2026-01-06T08:00:00Z"),     # resent later with a fresh timestamp
        overridden("c2", "already-ordered"),
        overridden("c3", "already-ordered", comment="done on the ward"),
        overridden("d1"),                                # no reason picked
    ])
    report = store.feedback_report()
    assert report == {"topics": {
        "observation-period": {"issued": 3, "accepted": 1, "overridden": 2, "override_reasons": {"already-ordered": 2}},
        "dose-limit": {"issued": 1, "accepted": 0, "overridden": 1, "override_reasons": {}},
    }}


def test_feedback_on_a_card_we_never_issued_is_kept_under_unknown(store):
    give_feedback(store, "svc", [overridden("ghost", "other")])
    assert store.feedback_report() == {"topics": {
        "unknown": {"issued": 0, "accepted": 0, "overridden": 1, "override_reasons": {"other": 1}},
    }}


def test_an_empty_store_reports_no_topics(store):
    assert store.feedback_report() == {"topics": {}}


def test_feedback_survives_a_new_store_on_the_same_database(database_url):
    first = Store(database_url)
    issue(first, "svc", "order-sign", [card("c1")])
    give_feedback(first, "svc", [accepted("c1")])
    first.dispose()
    second = Store(database_url)      # a restart, or another worker / replica
    assert give_feedback(second, "svc", [accepted("c1")]) == 0
    assert second.feedback_report()["topics"]["observation-period"]["accepted"] == 1
    second.dispose()


def test_override_details_are_stored_as_sent(store):
    from cds_service.store import Feedback

    long_display = "x" * 900
    item = overridden("c1", "other", comment="patient preferred to wait")
    item["overrideReason"]["reason"]["display"] = long_display
    give_feedback(store, "svc", [item, accepted("c2", suggestions=("a", "b"))])
    with store.session() as session:
        rows = {row.card_uuid: row for row in session.query(Feedback)}
    assert rows["c1"].override_reason_code == "other"
    assert rows["c1"].override_reason_system == "urn:iron-cds:override-reason"
    assert rows["c1"].override_reason_display == long_display[:500]
    assert rows["c1"].user_comment == "patient preferred to wait"
    assert rows["c2"].accepted_suggestions == '["a", "b"]'


def test_a_failing_database_does_not_lose_the_prescribers_cards(store, caplog):
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE issued_card"))
    with caplog.at_level(logging.ERROR, logger="iron_cds.store"):
        store.record_issued_later("svc", "order-sign", [card("c1")])
        store.flush()                                     # never raises: the fault is logged
    assert [r.event for r in caplog.records] == ["store-error"]


def test_a_failing_database_raises_on_feedback(store):
    from sqlalchemy.exc import SQLAlchemyError

    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE feedback"))
    with pytest.raises(SQLAlchemyError):
        store.store_feedback("svc", [accepted("c1")])


def test_jwt_ids_are_refused_the_second_time_and_purged_after_expiry(store):
    now = datetime.now(timezone.utc)
    assert store.remember_token("iss", "j1", now + timedelta(minutes=5))
    assert not store.remember_token("iss", "j1", now + timedelta(minutes=5))
    assert store.remember_token("other-iss", "j1", now + timedelta(minutes=5))
    assert store.remember_token("iss", "old", now - timedelta(seconds=1))
    assert store.remember_token("iss", "j2", now + timedelta(minutes=5))   # purges "old"
    assert store.remember_token("iss", "old", now + timedelta(minutes=5))


def test_an_unusable_database_url_is_one_line_without_the_password():
    with pytest.raises(ConfigError) as excinfo:
        Store("notadb://user:s3cret@host/db")
    assert "s3cret" not in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_an_unreachable_database_is_one_line_without_the_password():
    # port 9 (discard) on loopback: nothing listens, the connection is refused at once
    with pytest.raises(ConfigError) as excinfo:
        Store("postgresql+psycopg://user:s3cret@127.0.0.1:9/db?connect_timeout=2")
    message = str(excinfo.value)
    assert "s3cret" not in message and "\n" not in message
    assert "***" in message


def test_cards_queued_for_the_background_writer_are_written_before_any_read(store):
    store.record_issued_later("svc", "order-sign", [card("q-1"), card("q-2", topic="dose-limit")])
    # read at once, before the writer's next round: the read flushes the queue first
    assert store.card_topics(["q-1", "q-2"]) == {"q-1": "observation-period", "q-2": "dose-limit"}
    store.record_issued_later("svc", "order-sign", [card("q-3")])
    assert store.feedback_report()["topics"]["observation-period"]["issued"] == 2


def test_queued_cards_reach_the_database_without_a_read_in_this_process(database_url):
    writer, reader = Store(database_url), Store(database_url)
    try:
        writer.record_issued_later("svc", "order-sign", [card("bg-1")])
        for _ in range(50):  # the writer runs every 0.2 s; allow it up to 5 s on a busy machine
            if reader.card_topics(["bg-1"]):
                break
            time.sleep(0.1)
        assert reader.card_topics(["bg-1"]) == {"bg-1": "observation-period"}
    finally:
        writer.dispose()
        reader.dispose()


def test_dispose_stops_the_background_writer_and_keeps_later_cards(database_url):
    store = Store(database_url)
    store.record_issued_later("svc", "order-sign", [card("d-1")])
    writer = store._writer
    assert writer is not None and writer.is_alive()
    store.dispose()
    assert not writer.is_alive()
    # a card queued after dispose has no writer to wait for: it is written at once, not lost
    store.record_issued_later("svc", "order-sign", [card("d-2")])
    assert store._writer is writer and not writer.is_alive()
    other = Store(database_url)
    try:
        assert other.card_topics(["d-1", "d-2"]) == {"d-1": "observation-period", "d-2": "observation-period"}
    finally:
        other.dispose()
