"""Feedback figures cannot be inflated (issue 10, finding 9; reason codes: finding 11), on SQLite and PostgreSQL.

Counts are per card everywhere, the latest outcome wins and every event is kept; feedback on
cards never issued, over-long comments and floods are refused; reason codes print safely.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cds_service import LEGACY_SERVICE_ID
from cds_service.cds_hooks import feedback as feedback_module
from cds_service.cli import main, printable
from cds_service.console import feedback_stats
from cds_service.ops.rate_limit import RateLimiter
from cds_service.store import Feedback
from support.hook_requests import HOOK_URL
from support.store_fill import issue

FEEDBACK_URL = f"{HOOK_URL}/feedback"
TOKEN = "console-test-token-0123456789-abcdef"


def issued(topic, uuid):
    return {"uuid": uuid, "indicator": "warning", "summary": "s",
            "source": {"label": "iron-cds", "topic": {"system": "urn:iron-cds:card-topic", "code": topic}}}


def accepted(card, when="2026-01-05T10:00:00Z"):
    return {"card": card, "outcome": "accepted", "outcomeTimestamp": when, "acceptedSuggestions": []}


def overridden(card, when="2026-01-05T10:00:00Z", reason="already-ordered", comment=None):
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": when,
            "overrideReason": {"reason": {"system": "urn:iron-cds:override-reason", "code": reason}}}
    if comment is not None:
        item["overrideReason"]["userComment"] = comment
    return item


def send(client, *items, **kwargs):
    return client.post(FEEDBACK_URL, data=json.dumps({"feedback": list(items)}), content_type="application/json",
                       **kwargs)


@pytest.fixture
def app(make_app, database_url):
    app = make_app(database_url=database_url, console_token=TOKEN, feedback_per_minute=10_000)
    issue(app.extensions["iron_cds"].store, LEGACY_SERVICE_ID, "order-sign", [
        issued("infusion-rate", f"rate-{i}") for i in range(91)] + [issued("dose-limit", "dose-1")])
    yield app
    app.extensions["iron_cds"].store.dispose()


def cli_report(database_url) -> dict:
    result = CliRunner().invoke(main, ["feedback-report", "--json"], env={"IRON_CDS_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["topics"]


def console_figures(app) -> dict:
    today = date.today()
    store = app.extensions["iron_cds"].store
    stats = feedback_stats.collect(store, today - timedelta(days=1), today + timedelta(days=1))
    return {topic: (s.issued, s.accepted, s.overridden, dict(s.reasons)) for topic, s in stats.items()}


# ---------------------------------------------------------------- per card, latest wins, history kept
def test_500_overrides_of_one_card_count_once_in_the_cli_and_the_console(app, database_url):
    client = app.test_client()
    minutes = [f"2026-01-05T{10 + n // 60:02d}:{n % 60:02d}:00Z" for n in range(500)]
    assert send(client, *(overridden("rate-0", when=m) for m in minutes)).get_json()["stored"] == 500
    report = cli_report(database_url)["infusion-rate"]
    assert (report["issued"], report["accepted"], report["overridden"]) == (91, 0, 1)
    assert report["override_reasons"] == {"already-ordered": 1}
    assert console_figures(app)["infusion-rate"] == (91, 0, 1, {"already-ordered": 1})
    with app.extensions["iron_cds"].store.session() as session:    # every event is kept
        assert session.execute(select(func.count()).select_from(Feedback)).scalar() == 500


def test_the_latest_outcome_of_a_card_wins_whatever_the_order_it_arrives_in(app, database_url):
    client = app.test_client()
    send(client, accepted("rate-1", when="2026-01-05T10:00:00Z"))
    send(client, overridden("rate-1", when="2026-01-05T10:00:00.5Z", reason="patient-declined"))  # later, with decimals
    send(client, overridden("rate-2", when="2026-01-05T11:00:00Z"))
    send(client, accepted("rate-2", when="2026-01-05T10:59:59Z"))            # arrives last but happened first
    send(client, accepted("dose-1", when="2026-01-05T09:00:00Z"))
    report = cli_report(database_url)
    assert (report["infusion-rate"]["accepted"], report["infusion-rate"]["overridden"]) == (0, 2)
    assert report["infusion-rate"]["override_reasons"] == {"patient-declined": 1, "already-ordered": 1}
    assert (report["dose-limit"]["accepted"], report["dose-limit"]["overridden"]) == (1, 0)
    figures = console_figures(app)
    assert figures["infusion-rate"][:3] == (91, 0, 2) and figures["dose-limit"][:3] == (1, 1, 0)


# ---------------------------------------------------------------- refused input
def test_feedback_on_a_card_never_issued_is_400_and_nothing_is_stored(app, database_url, monkeypatch):
    monkeypatch.setattr(feedback_module, "UNKNOWN_CARD_RECHECK_SECONDS", 0)
    response = send(app.test_client(), accepted("rate-3"), overridden("never-issued"))
    assert response.status_code == 400
    assert response.get_json()["field"] == "feedback[1].card"
    assert "infusion-rate" not in {t for t, v in cli_report(database_url).items() if v["accepted"]}


def test_a_card_still_in_the_audit_writers_queue_counts_as_issued(app):
    store = app.extensions["iron_cds"].store
    store.record_issued_later(LEGACY_SERVICE_ID, "order-sign", [issued("dose-limit", "just-issued")])
    assert send(app.test_client(), accepted("just-issued")).status_code == 200


def test_a_comment_over_2000_characters_is_refused_not_cut(app):
    client = app.test_client()
    too_long = send(client, overridden("rate-4", comment="x" * 2001))
    assert too_long.status_code == 400
    assert too_long.get_json()["field"] == "feedback[0].overrideReason.userComment"
    assert send(client, overridden("rate-4", comment="y" * 2000)).status_code == 200
    with app.extensions["iron_cds"].store.session() as session:
        (comment,) = session.execute(select(Feedback.user_comment).where(Feedback.card_uuid == "rate-4")).one()
    assert comment == "y" * 2000


def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_do_not(make_app, database_url):
    app = make_app(database_url=database_url, feedback_per_minute=3)
    issue(app.extensions["iron_cds"].store, LEGACY_SERVICE_ID, "order-sign", [issued("dose-limit", "d")])
    client = app.test_client()
    codes = [send(client, accepted("d", when=f"2026-01-05T10:00:0{n}Z")).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = send(client, accepted("d", when="2026-01-05T10:00:09Z"))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    other = send(client, accepted("d", when="2026-01-05T10:00:10Z"), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200
    app.extensions["iron_cds"].store.dispose()


def test_the_limiter_refills_over_time():
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert [limiter.hit("a"), limiter.hit("a"), limiter.hit("a")] == [None, None, 30]
    now[0] = 30.0
    assert limiter.hit("a") is None and limiter.hit("a") == 30
    assert limiter.hit("b") is None


def test_the_limiter_forgets_the_oldest_clients_past_its_size():
    limiter = RateLimiter(1, 60.0, max_keys=3)
    for key in "abcd":
        limiter.hit(key)
    assert limiter.hit("a") is None           # forgotten, so a fresh bucket
    assert limiter.hit("d") == 60


# ---------------------------------------------------------------- reason codes printed safely
def test_reason_codes_print_with_control_characters_escaped(app, database_url):
    hostile = "ok\x1b[2J\x1b]0;owned\x07\u202eevil"
    assert send(app.test_client(), overridden("rate-5", reason=hostile)).status_code == 200
    result = CliRunner().invoke(main, ["feedback-report"], env={"IRON_CDS_DATABASE_URL": database_url})
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "overridden because ok\\x1b[2J\\x1b]0;owned\\x07\\u202eevil: 1" in result.output


def test_printable_leaves_ordinary_text_alone():
    assert printable("patient-declined é 5") == "patient-declined é 5"
    assert printable("a\tb\nc") == "a\\x09b\\x0ac"
