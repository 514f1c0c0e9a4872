"""The feedback / audit store (SQLAlchemy; SQLite by default, PostgreSQL by URL).

It holds no patient data: issued cards (uuid, service, hook, topic, indicator,
time), clinicians' feedback on them, and the JWT ids we have seen (replay
protection shared by every worker and instance that uses the same database).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import (
    DateTime,
    Index,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


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


class SeenToken(Base):
    __tablename__ = "seen_jwt"
    __table_args__ = (Index("ix_seen_jwt_expires", "expires_at"),)

    # issuer + jti: two issuers may pick the same jti
    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    def __init__(self, url: str):
        kwargs = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            # Several gunicorn workers share one SQLite file: wait for locks rather than fail.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._session()

    # --- cards -------------------------------------------------------------
    def record_issued(self, service: str, hook: str, cards: Iterable[dict]) -> None:
        now = _utcnow()
        rows = [
            IssuedCard(
                uuid=card["uuid"],
                service=service,
                hook=hook,
                topic=card.get("source", {}).get("topic", {}).get("code", "unknown"),
                indicator=card.get("indicator", "info"),
                issued_at=now,
            )
            for card in cards
            if card.get("uuid")
        ]
        if not rows:
            return
        with self.session() as session, session.begin():
            session.add_all(rows)

    # --- feedback ----------------------------------------------------------
    def record_feedback(self, service: str, items: Iterable[dict]) -> int:
        """Store feedback items; returns how many were new. Repeats are ignored."""
        new = 0
        for item in items:
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            row = Feedback(
                service=service,
                card_uuid=item["card"],
                outcome=item["outcome"],
                outcome_timestamp=item["outcomeTimestamp"],
                accepted_suggestions=json.dumps([s["id"] for s in item.get("acceptedSuggestions") or []]),
                override_reason_system=reason.get("system"),
                override_reason_code=reason.get("code"),
                override_reason_display=reason.get("display"),
                user_comment=(item.get("overrideReason") or {}).get("userComment"),
                received_at=_utcnow(),
            )
            try:
                with self.session() as session, session.begin():
                    session.add(row)
                new += 1
            except IntegrityError:
                pass  # the same feedback sent again: already stored
        return new

    def feedback_report(self) -> dict:
        """Counts per card topic, the contract's ``feedback-report --json`` shape."""
        topics: dict[str, dict] = {}

        def topic(code: str) -> dict:
            return topics.setdefault(code, {"issued": 0, "accepted": 0, "overridden": 0, "override_reasons": {}})

        with self.session() as session:
            for code, count in session.execute(select(IssuedCard.topic, func.count()).group_by(IssuedCard.topic)):
                topic(code)["issued"] = count
            joined = (
                select(IssuedCard.topic, Feedback.outcome, Feedback.override_reason_code, func.count())
                .join(IssuedCard, IssuedCard.uuid == Feedback.card_uuid, isouter=True)
                .group_by(IssuedCard.topic, Feedback.outcome, Feedback.override_reason_code)
            )
            for code, outcome, reason, count in session.execute(joined):
                entry = topic(code or "unknown")
                if outcome in ("accepted", "overridden"):
                    entry[outcome] += count
                if outcome == "overridden" and reason:
                    entry["override_reasons"][reason] = entry["override_reasons"].get(reason, 0) + count
        return {"topics": topics}

    # --- JWT replay protection --------------------------------------------
    def remember_token(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record a JWT id; False when it was seen before (a replay)."""
        now = _utcnow()
        try:
            with self.session() as session, session.begin():
                session.execute(delete(SeenToken).where(SeenToken.expires_at < now))
                session.add(SeenToken(key=f"{issuer}\x1f{jti}", expires_at=expires_at))
            return True
        except IntegrityError:
            return False


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
