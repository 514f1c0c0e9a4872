"""``POST /cds-services/{id}/feedback`` and ``iron-cds feedback-report``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cds_service import LEGACY_SERVICE_ID
from cds_service.cli import main
from cds_service.ops import metrics
from support.hook_requests import HOOK_URL
from support.store_fill import issue

FEEDBACK_URL = f"{HOOK_URL}/feedback"


def issued(topic, uuid, indicator="info"):
    return {"uuid": uuid, "indicator": indicator, "summary": "s",
            "source": {"label": "iron-cds", "topic": {"system": "urn:iron-cds:card-topic", "code": topic}}}


def accepted(card, when="2026-01-05T10:00:00Z", suggestions=("sugg-1",)):
    return {"card": card, "outcome": "accepted", "outcomeTimestamp": when,
            "acceptedSuggestions": [{"id": s} for s in suggestions]}


def overridden(card, reason="already-ordered", when="2026-01-05T10:00:00Z", comment=None):
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": when}
    if reason:
        item["overrideReason"] = {"reason": {"system": "urn:iron-cds:override-reason", "code": reason,
                                             "display": "Already ordered"}}
        if comment:
            item["overrideReason"]["userComment"] = comment
    return item


def send(client, *items, url=FEEDBACK_URL):
    return client.post(url, data=json.dumps({"feedback": list(items)}), content_type="application/json")


def state_of(app):
    return app.extensions["iron_cds"]


@pytest.fixture
def db_app(make_app, database_url):
    app = make_app(database_url=database_url)
    issue(state_of(app).store, LEGACY_SERVICE_ID, "order-sign", [
        issued("observation-period", "card-obs-1"), issued("observation-period", "card-obs-2"),
        issued("dose-limit", "card-dose-1", "warning"),
    ])
    yield app
    state_of(app).store.dispose()


def report(database_url, *args):
    result = CliRunner().invoke(main, ["feedback-report", *args], env={"IRON_CDS_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.stdout          # --json promises exactly one object on stdout; logs may go to stderr


# --- the endpoint ---------------------------------------------------------------------------------------
def test_feedback_is_stored_and_a_repeat_is_a_no_op(db_app):
    client = db_app.test_client()
    first = send(client, accepted("card-obs-1"), overridden("card-dose-1"))
    assert first.status_code == 200
    assert first.get_json() == {"received": 2, "stored": 2}
    again = send(client, overridden("card-dose-1"), accepted("card-obs-1"))
    assert again.status_code == 200
    assert again.get_json() == {"received": 2, "stored": 0}


def test_the_same_instant_written_another_way_is_the_same_feedback(db_app):
    client = db_app.test_client()
    assert send(client, accepted("card-obs-1", when="2026-01-05T10:00:00Z")).get_json()["stored"] == 1
    for same in ("2026-01-05T11:00:00+01:00", "2026-01-05t10:00:00z", "2026-01-05T10:00:00.000Z"):
        assert send(client, accepted("card-obs-1", when=same)).get_json()["stored"] == 0, same


def test_feedback_counts_metrics_per_topic_once(db_app, monkeypatch):
    counted = []
    monkeypatch.setattr(metrics, "count_feedback", lambda topic, outcome: counted.append((topic, outcome)))
    client = db_app.test_client()
    send(client, accepted("card-obs-1"), overridden("card-dose-1"))
    send(client, accepted("card-obs-1"))
    assert sorted(counted) == [("dose-limit", "overridden"), ("observation-period", "accepted")]


def test_feedback_survives_a_restart_and_the_report_counts_it_once(make_app, database_url):
    first = make_app(database_url=database_url)
    issue(state_of(first).store, LEGACY_SERVICE_ID, "order-sign", [
        issued("observation-period", "card-obs-1"), issued("observation-period", "card-obs-2"),
        issued("dose-limit", "card-dose-1", "warning"),
    ])
    client = first.test_client()
    assert send(client, accepted("card-obs-1"), overridden("card-obs-2", comment="done on the ward"),
                overridden("card-dose-1", reason="weight-outdated")).status_code == 200
    state_of(first).store.dispose()

    second = make_app(database_url=database_url)          # a restart, or another replica
    client = second.test_client()
    assert send(client, accepted("card-obs-1")).get_json() == {"received": 1, "stored": 0}
    # the EHR resends with a fresh timestamp: a second event, but still one accepted card
    assert send(client, accepted("card-obs-1", when="2026-01-06T09:00:00Z")).get_json()["stored"] == 1
    state_of(second).store.dispose()

    printed = report(database_url, "--json")
    assert printed.count("\n") == 1
    assert json.loads(printed) == {"topics": {
        "observation-period": {"issued": 2, "accepted": 1, "overridden": 1, "override_reasons": {"already-ordered": 1}},
        "dose-limit": {"issued": 1, "accepted": 0, "overridden": 1, "override_reasons": {"weight-outdated": 1}},
    }}


def test_the_text_report_is_readable(db_app, database_url):
    client = db_app.test_client()
    send(client, accepted("card-obs-1"), overridden("card-obs-2"), overridden("card-dose-1", reason="other"))
    text_report = report(database_url)
    lines = text_report.splitlines()
    assert lines[0].startswith("Feedback report (store:")
    assert lines[1].split() == ["topic", "issued", "accepted", "overridden", "accepted", "%"]
    by_topic = {line.split()[0]: line.split()[1:] for line in lines[2:] if not line.startswith(" ")}
    assert by_topic["observation-period"] == ["2", "1", "1", "50%"]
    assert by_topic["dose-limit"] == ["1", "0", "1", "0%"]
    assert "    overridden because already-ordered: 1" in lines
    assert "    overridden because other: 1" in lines


def test_the_report_of_an_empty_store_says_so(make_app, database_url):
    make_app(database_url=database_url)
    assert "No cards issued and no feedback received yet." in report(database_url)
    assert json.loads(report(database_url, "--json")) == {"topics": {}}


def test_the_report_hides_the_database_password():
    result = CliRunner().invoke(main, ["feedback-report"],
                                env={"IRON_CDS_DATABASE_URL": "postgresql+psycopg://u:s3cret@127.0.0.1:9/db"})
    assert result.exit_code == 1
    assert "s3cret" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_store_failure_is_a_visible_503_not_a_silent_200(db_app, caplog):
    with state_of(db_app).store.engine.begin() as conn:
        conn.execute(text("DROP TABLE feedback"))
    with caplog.at_level(logging.ERROR, logger="iron_cds.feedback"):
        response = send(db_app.test_client(), accepted("card-obs-1"))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "again" in response.get_json()["error"]
    assert [r.event for r in caplog.records if r.name == "iron_cds.feedback"] == ["feedback-store-error"]


def test_a_batch_is_stored_whole_or_not_at_all(db_app, monkeypatch):
    store = state_of(db_app).store
    from cds_service import store as store_module

    real_row = store_module._feedback_row
    calls = []

    def failing_second_row(service, item, now):
        calls.append(item["card"])
        if len(calls) == 2:
            return dict(real_row(service, item, now), card_uuid=None)   # violates NOT NULL mid-batch
        return real_row(service, item, now)

    monkeypatch.setattr(store_module, "_feedback_row", failing_second_row)
    assert send(db_app.test_client(), accepted("card-obs-1"), accepted("card-obs-2")).status_code == 503
    monkeypatch.setattr(store_module, "_feedback_row", real_row)
    assert store.feedback_report()["topics"]["observation-period"]["accepted"] == 0
    assert send(db_app.test_client(), accepted("card-obs-1"), accepted("card-obs-2")).get_json()["stored"] == 2


# --- validation -----------------------------------------------------------------------------------------
def test_unknown_service_is_404(client):
    response = send(client, accepted("c"), url="/cds-services/other/feedback")
    assert response.status_code == 404
    assert response.get_json()["error"]


def test_feedback_needs_authentication(make_app):
    client = make_app(auth="jwt").test_client()
    response = send(client, accepted("c"))
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}


@pytest.mark.parametrize("body, field", [
    ({}, "feedback"),
    ({"feedback": {}}, "feedback"),
    ({"feedback": []}, "feedback"),
    ({"feedback": [7]}, "feedback[0]"),
    ({"feedback": [{"outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": "2026-01-05T10:00:00Z"}]},
     "feedback[0].card"),
    ({"feedback": [{"card": 5, "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]},
     "feedback[0].card"),
    ({"feedback": [{"card": "c" * 65, "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]},
     "feedback[0].card"),
    ({"feedback": [{"card": "c", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]}, "feedback[0].outcome"),
    ({"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]},
     "feedback[0].outcome"),
    ({"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-05T10:00:00Z"}]},
     "feedback[0].acceptedSuggestions"),
    ({"feedback": [{"card": "c", "outcome": "accepted", "acceptedSuggestions": [{}],
                    "outcomeTimestamp": "2026-01-05T10:00:00Z"}]}, "feedback[0].acceptedSuggestions[0].id"),
    ({"feedback": [{"card": "c", "outcome": "accepted", "acceptedSuggestions": ["s1"],
                    "outcomeTimestamp": "2026-01-05T10:00:00Z"}]}, "feedback[0].acceptedSuggestions[0]"),
    ({"feedback": [{"card": "c", "outcome": "overridden"}]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00"}]},
     "feedback[0].outcomeTimestamp"),             # RFC 3339 needs a zone
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-02-30T10:00:00Z"}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "0001-01-01T00:00:00+01:00"}]},
     "feedback[0].outcomeTimestamp"),             # valid as written, out of range in UTC
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "9999-12-31T23:30:00-01:00"}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00+25:00"}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": 1767607200}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z",
                    "overrideReason": "too busy"}]}, "feedback[0].overrideReason"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z",
                    "overrideReason": {"reason": {"code": "x"}}}]}, "feedback[0].overrideReason.reason.system"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z",
                    "overrideReason": {"reason": {"system": "s"}}}]}, "feedback[0].overrideReason.reason.code"),
    ({"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z",
                    "overrideReason": {"userComment": 3}}]}, "feedback[0].overrideReason.userComment"),
])
def test_invalid_feedback_is_400_naming_the_field(client, body, field):
    response = client.post(FEEDBACK_URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["field"] == field


def test_a_batch_has_a_bounded_size(app, client):
    from cds_service.cds_hooks.schemas import MAX_FEEDBACK_ITEMS

    issue(state_of(app).store, LEGACY_SERVICE_ID, "order-sign",
                                      [issued("dose-limit", f"c-{i}") for i in range(MAX_FEEDBACK_ITEMS)])
    items = [accepted(f"c-{i}") for i in range(MAX_FEEDBACK_ITEMS + 1)]
    response = send(client, *items)
    assert response.status_code == 400
    assert response.get_json()["field"] == "feedback"
    assert send(client, *items[:MAX_FEEDBACK_ITEMS]).get_json() == {"received": MAX_FEEDBACK_ITEMS,
                                                                    "stored": MAX_FEEDBACK_ITEMS}


def test_the_second_bad_item_of_a_batch_is_named_and_nothing_is_stored(db_app):
    client = db_app.test_client()
    response = send(client, accepted("card-obs-1"), {"card": "card-obs-2", "outcome": "accepted",
                                                     "outcomeTimestamp": "2026-01-05T10:00:00Z"})
    assert response.get_json()["field"] == "feedback[1].acceptedSuggestions"
    assert state_of(db_app).store.feedback_report()["topics"]["observation-period"]["accepted"] == 0


@pytest.mark.parametrize("raw, content_type, status", [
    (b"not json", "application/json", 400),
    (b"[]", "application/json", 400),
    (b'{"feedback": []}', "text/plain", 415),
])
def test_feedback_body_must_be_a_json_object(client, raw, content_type, status):
    response = client.post(FEEDBACK_URL, data=raw, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_feedback_over_the_size_limit_is_413(make_app):
    client = make_app(max_body_bytes=2048).test_client()
    response = send(client, *[accepted(f"card-{i}") for i in range(40)])
    assert response.status_code == 413
    assert response.get_json()["error"]


def test_spec_extras_are_accepted(app, client):
    issue(state_of(app).store, LEGACY_SERVICE_ID, "order-sign",
                                      [issued("dose-limit", "card-x"), issued("dose-limit", "card-y")])
    item = overridden("card-x", comment="patient asked to wait")
    item["extension"] = {"com.example": 1}
    item["overrideReason"]["reason"]["display"] = None
    response = send(client, item, accepted("card-y", suggestions=()))
    assert response.status_code == 200
    assert response.get_json() == {"received": 2, "stored": 2}
