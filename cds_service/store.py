"""The feedback / audit store (SQLAlchemy; SQLite by default, PostgreSQL by URL).

It holds no patient data: issued cards (uuid, service, hook, topic, indicator,
time), clinicians' feedback on them, and the JWT ids we have seen (replay
protection shared by every worker and instance that uses the same database).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import (
    DateTime,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from cds_service.config import ConfigError

log = logging.getLogger("iron_cds.store")


class Base(DeclarativeBase):
    pass


class IssuedCard(Base):
    __tablename__ = "issued_card"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(100))
    hook: Mapped[str] = mapped_column(String(50))
    topic: Mapped[str] = mapped_column(String(50), index=True)
    indicator: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Feedback(Base):
    __tablename__ = "feedback"
    # The same feedback may be sent again (CDS Hooks says so): one row per card, outcome and time.
    __table_args__ = (UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="uq_feedback_once"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(100))
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    outcome_timestamp: Mapped[str] = mapped_column(String(40))
    accepted_suggestions: Mapped[str] = mapped_column(Text, default="[]")   # JSON list of suggestion uuids
    override_reason_system: Mapped[str | None] = mapped_column(String(200), nullable=True)
    override_reason_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    override_reason_display: Mapped[str | None] = mapped_column(String(500), nullable=True)
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleSession(Base):
    """A console login: the cookie carries only this id, so logging out (deleting the row) ends it everywhere."""

    __tablename__ = "console_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DeploymentSecret(Base):
    """Random values made once per deployment and shared by every worker and replica (e.g. the HKDF salt)."""

    __tablename__ = "deployment_secret"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class SeenToken(Base):
    __tablename__ = "seen_jwt"
    __table_args__ = (Index("ix_seen_jwt_expires", "expires_at"),)

    # issuer + jti: two issuers may pick the same jti
    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TOKEN_PURGE_SECONDS = 60.0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    def __init__(self, url: str):
        """Connect and create the tables; a URL we cannot use raises ``ConfigError`` (one line)."""
        shown = redacted_url(url)
        kwargs = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            # Several gunicorn workers share one SQLite file: wait for locks rather than fail.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            self.engine = create_engine(url, **kwargs)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise ConfigError(f"IRON_CDS_DATABASE_URL {shown} is not usable: {one_line(exc)}") from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._create_tables(shown)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._pending: queue.SimpleQueue = queue.SimpleQueue()
        self._flush_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._writer_pid: int | None = None
        self._closed = threading.Event()   # set by dispose: the background writer stops
        self._next_token_purge = 0.0
        atexit.register(self.flush)

    def _create_tables(self, shown: str) -> None:
        # Workers and replicas start together: a CREATE TABLE race with a sibling is not fatal.
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                return
            except SQLAlchemyError as exc:
                if attempt == 2:
                    raise ConfigError(f"cannot open the store at {shown}: {one_line(exc)}") from None
                time.sleep(0.2 * (attempt + 1))

    def session(self) -> Session:
        return self._session()

    def dispose(self) -> None:
        """Stop the background writer, write what is queued, then close pooled connections."""
        self._closed.set()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=5)
        self.flush()
        self.engine.dispose()
        atexit.unregister(self.flush)   # nothing left to write at exit; and the store can be freed

    # --- cards -------------------------------------------------------------
    def record_issued_later(self, service: str, hook: str, cards: Iterable[dict]) -> None:
        """Queue the issued cards for the background writer: the prescriber does not wait for our
        audit insert (nor for another worker's SQLite write lock). Batches are written every
        ~0.2 s, before any read of the table in this process, and at exit."""
        rows = self._issued_rows(service, hook, cards)
        if not rows:
            return
        self._pending.put(rows)
        if self._closed.is_set():   # disposed: no writer any more, so write now rather than never
            self.flush()
            return
        if self._writer is None or not self._writer.is_alive() or self._writer_pid != os.getpid():
            with self._writer_lock:
                if self._writer is None or not self._writer.is_alive() or self._writer_pid != os.getpid():
                    self._writer_pid = os.getpid()
                    self._writer = threading.Thread(target=self._write_pending_forever, name="iron-cds-audit",
                                                    daemon=True)
                    self._writer.start()

    def flush(self) -> None:
        """Write every queued issued-card row now (called before reads and at exit)."""
        with self._flush_lock:
            batch: list[dict] = []
            while True:
                try:
                    batch += self._pending.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._insert_issued(batch)

    def _write_pending_forever(self) -> None:
        while not self._closed.wait(0.2):
            self.flush()

    def _issued_rows(self, service: str, hook: str, cards: Iterable[dict]) -> list[dict]:
        now = _utcnow()
        return [
            {
                "uuid": card["uuid"],
                "service": service,
                "hook": hook,
                "topic": ((card.get("source") or {}).get("topic") or {}).get("code") or "unknown",
                "indicator": card.get("indicator") or "info",
                "issued_at": now,
            }
            for card in cards
            if card.get("uuid")
        ]

    def _insert_issued(self, rows: list[dict]) -> bool:
        try:
            # One executemany for the batch: a statement built and compiled per row cost the
            # background writer (and so the workers' CPU) more than the rows themselves.
            with self.session() as session, session.begin():
                session.execute(self._insert_many_once(IssuedCard), rows)
            return True
        except SQLAlchemyError as exc:
            log.error("issued cards not recorded", extra={"event": "store-error", "operation": "record_issued",
                                                          "error": exc.__class__.__name__, "cards": len(rows)})
            return False

    def card_topics(self, uuids: Iterable[str]) -> dict[str, str]:
        """Topic code per issued card uuid (cards we never issued are absent)."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        self.flush()
        with self.session() as session:
            found = session.execute(select(IssuedCard.uuid, IssuedCard.topic).where(IssuedCard.uuid.in_(wanted)))
            return dict(found.all())

    # --- feedback ----------------------------------------------------------
    def store_feedback(self, service: str, items: Iterable[dict]) -> list[bool]:
        """Store validated feedback items in one transaction; per item, True when it was new.

        Database faults raise ``SQLAlchemyError`` (nothing is half-stored): the caller must tell
        the client, which will send the batch again.
        """
        now = _utcnow()
        rows = [_feedback_row(service, item, now) for item in items]
        new: list[bool] = []
        with self.session() as session, session.begin():
            for row in rows:
                inserted = session.execute(self._insert_once(Feedback, row).returning(Feedback.__table__.c.id))
                new.append(inserted.first() is not None)
        return new

    def feedback_report(self) -> dict:
        """Counts per card topic, the contract's ``feedback-report --json`` shape.

        Counts are of cards, by each card's latest outcome (``_latest_outcomes``): feedback sent again,
        or 500 overrides of one card, count once; a card accepted and later overridden counts as
        overridden. Every event stays in the feedback table (the history).
        """
        self.flush()
        topics: dict[str, dict] = {}

        def topic(code: str | None) -> dict:
            return topics.setdefault(code or "unknown",
                                     {"issued": 0, "accepted": 0, "overridden": 0, "override_reasons": {}})

        latest = self._latest_outcomes()
        joined_topic = func.coalesce(IssuedCard.topic, "unknown")
        answered = select(joined_topic, latest.c.outcome, latest.c.override_reason_code, func.count()).select_from(
            latest).join(IssuedCard, IssuedCard.uuid == latest.c.card_uuid, isouter=True).group_by(
            joined_topic, latest.c.outcome, latest.c.override_reason_code)
        with self.session() as session:
            for code, count in session.execute(select(IssuedCard.topic, func.count()).group_by(IssuedCard.topic)):
                topic(code)["issued"] = count
            for code, outcome, reason, count in session.execute(answered):
                entry = topic(code)
                entry[outcome] += count
                if outcome == "overridden" and reason is not None:
                    entry["override_reasons"][reason] = entry["override_reasons"].get(reason, 0) + count
        return {"topics": topics}

    def card_outcomes(self, since: datetime, until: datetime) -> list["CardOutcome"]:
        """Every card issued in [since, until) with its latest outcome (None when no feedback came)."""
        self.flush()
        latest = self._latest_outcomes()
        query = (
            select(IssuedCard.topic, IssuedCard.issued_at, latest.c.outcome, latest.c.override_reason_code,
                   latest.c.override_reason_display, latest.c.received_at)
            .select_from(IssuedCard)
            .join(latest, latest.c.card_uuid == IssuedCard.uuid, isouter=True)
            .where(IssuedCard.issued_at >= since, IssuedCard.issued_at < until)
        )
        with self.session() as session:
            return [CardOutcome(topic, _aware(issued_at), outcome, display or code, _aware(answered_at))
                    for topic, issued_at, outcome, code, display, answered_at in session.execute(query)]

    @staticmethod
    def _latest_outcomes():
        """One row per card that got feedback: its latest event (by outcome time, then arrival order)."""
        stamp = Feedback.outcome_timestamp
        # normalise_timestamp writes "...SSZ" or "...SS.ffffffZ": give both six decimals so text order is time order
        sortable = case((func.length(stamp) == 20, func.substr(stamp, 1, 19).concat(".000000Z")), else_=stamp)
        rank = func.row_number().over(partition_by=Feedback.card_uuid,
                                      order_by=(sortable.desc(), Feedback.id.desc())).label("rank")
        events = select(Feedback.card_uuid, Feedback.outcome, Feedback.override_reason_code,
                        Feedback.override_reason_display, Feedback.received_at, rank).subquery("events")
        return select(events).where(events.c.rank == 1).subquery("latest")

    def card_counts(self) -> tuple[int, int]:
        """(cards issued, cards with feedback): what the console overview shows."""
        self.flush()
        with self.session() as session:
            issued = session.scalar(select(func.count()).select_from(IssuedCard)) or 0
            answered = session.scalar(select(func.count(Feedback.card_uuid.distinct()))) or 0
        return issued, answered

    # --- console sessions and deployment secrets -----------------------------
    def deployment_secret(self, name: str) -> str:
        """The deployment's random value called ``name``, made on first use (64 hex characters)."""
        with self.session() as session, session.begin():
            session.execute(self._insert_once(DeploymentSecret, {"name": name, "value": secrets.token_hex(32)}))
        with self.session() as session:   # a sibling may have won the race: everyone reads the stored one
            return session.scalar(select(DeploymentSecret.value).where(DeploymentSecret.name == name))

    def open_console_session(self, lifetime_seconds: float) -> str:
        session_id = secrets.token_urlsafe(32)
        now = _utcnow()
        with self.session() as session, session.begin():
            session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            session.add(ConsoleSession(id=session_id, expires_at=now + timedelta(seconds=lifetime_seconds)))
        return session_id

    def console_session_valid(self, session_id: str | None) -> bool:
        if not isinstance(session_id, str) or not session_id:
            return False
        with self.session() as session:
            expires = session.scalar(select(ConsoleSession.expires_at).where(ConsoleSession.id == session_id))
        return expires is not None and _aware(expires) > _utcnow()

    def close_console_session(self, session_id: str | None) -> None:
        if isinstance(session_id, str) and session_id:
            with self.session() as session, session.begin():
                session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))

    # --- JWT replay protection --------------------------------------------
    def remember_token(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record a JWT id; False when it was seen before on a token that has not expired (a replay).

        Every hook call with JWT verification passes here, so it is one INSERT; ids past their expiry are
        deleted at most once a minute per process (a lingering one is simply taken over, below)."""
        key, now = f"{issuer}\x1f{jti}", _utcnow()
        try:
            with self.session() as session, session.begin():
                if time.monotonic() >= self._next_token_purge:
                    self._next_token_purge = time.monotonic() + TOKEN_PURGE_SECONDS
                    session.execute(delete(SeenToken).where(SeenToken.expires_at < now))
                session.execute(insert(SeenToken.__table__).values(key=key, expires_at=expires_at))
            return True
        except IntegrityError:
            return self._take_over_expired(key, expires_at, now)

    def _take_over_expired(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """The id is on record: a replay while its first token is valid, else free again (one UPDATE, so
        two workers racing for the same expired id cannot both win)."""
        with self.session() as session, session.begin():
            taken = session.execute(update(SeenToken).where(SeenToken.key == key, SeenToken.expires_at < now)
                                    .values(expires_at=expires_at))
            return taken.rowcount == 1

    # --- helpers -------------------------------------------------------------
    def _insert_many_once(self, table):
        """INSERT for many rows (executemany) that skips rows whose unique key is already there."""
        table = table.__table__   # Core insert: the ORM bulk path hides which rows were new
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        if dialect == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        return insert(table).prefix_with("IGNORE")  # MySQL / MariaDB

    def _insert_once(self, table, row: dict):
        """INSERT that does nothing when the row's unique key is already there."""
        return self._insert_many_once(table).values(**row)


@dataclass(frozen=True)
class CardOutcome:
    """One issued card and what the clinician last did with it (no patient data)."""

    topic: str
    issued_at: datetime
    outcome: str | None          # "accepted", "overridden", or None: no feedback
    reason: str | None           # the latest override's reason (display, else code)
    answered_at: datetime | None  # when that latest feedback arrived


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; we stored UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _feedback_row(service: str, item: dict, received_at: datetime) -> dict:
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    display = reason.get("display")
    return {
        "service": service,
        "card_uuid": item["card"],
        "outcome": item["outcome"],
        "outcome_timestamp": item["outcomeTimestamp"],
        "accepted_suggestions": json.dumps([s["id"] for s in item.get("acceptedSuggestions") or []]),
        "override_reason_system": reason.get("system"),
        "override_reason_code": reason.get("code"),
        # the display is the EHR's label for a code we already keep: shorten rather than refuse
        "override_reason_display": display[:500] if isinstance(display, str) else None,
        "user_comment": override.get("userComment"),
        "received_at": received_at,
    }


def redacted_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def one_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
