"""Daily card and feedback figures per topic, from the feedback store only (no patient data)."""

from __future__ import annotations

import csv
import html
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from cds_service.store import Store


@dataclass
class TopicStats:
    topic: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    daily: dict[date, Counter] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter = field(default_factory=Counter)

    @property
    def acceptance_rate(self) -> float | None:
        answered = self.accepted + self.overridden
        return round(100 * self.accepted / answered, 1) if answered else None


def collect(store: Store, start: date, end: date) -> dict[str, TopicStats]:
    """Cards issued in [start, end] and what was last done with each, by topic and day.

    Counted per card (``Store.card_outcomes``), like ``iron-cds feedback-report``: a card
    overridden 500 times is one overridden card.
    """
    since = datetime.combine(start, time.min, tzinfo=timezone.utc)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=timezone.utc)
    stats: dict[str, TopicStats] = {}
    for card in store.card_outcomes(since, until):
        entry = stats.setdefault(card.topic, TopicStats(card.topic))
        entry.issued += 1
        entry.daily[_day(card.issued_at)]["issued"] += 1
        if card.outcome in ("accepted", "overridden") and card.answered_at is not None:
            setattr(entry, card.outcome, getattr(entry, card.outcome) + 1)
            entry.daily[_day(card.answered_at)][card.outcome] += 1
            if card.outcome == "overridden" and card.reason:
                entry.reasons[card.reason] += 1
    return dict(sorted(stats.items()))


def _day(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()


def to_csv(stats: dict[str, TopicStats]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "topic", "issued", "accepted", "overridden"])
    for topic, entry in stats.items():
        for day in sorted(entry.daily):
            counts = entry.daily[day]
            writer.writerow([day.isoformat(), topic, counts["issued"], counts["accepted"], counts["overridden"]])
    return out.getvalue()


SERIES = (("issued", "#5b6b7f"), ("accepted", "#1f7a3a"), ("overridden", "#b3261e"))


def svg_chart(entry: TopicStats, start: date, end: date, width: int = 640, height: int = 180) -> str:
    """A small grouped bar chart per day, as inline SVG (no JavaScript, no CDN)."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    peak = max([1] + [entry.daily[d][name] for d in days for name, _ in SERIES])
    left, bottom, top = 36, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot / (len(SERIES) + 1))
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-label="Daily cards issued, accepted and overridden for {html.escape(entry.topic)}">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="10">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>']
    for i, day in enumerate(days):
        for j, (name, colour) in enumerate(SERIES):
            value = entry.daily[day][name]
            if not value:
                continue
            h = plot_h * value / peak
            x = left + i * slot + j * bar + bar / 2
            parts.append(f'<rect class="bar {name}" data-day="{day.isoformat()}" data-value="{value}" x="{x:.1f}" '
                         f'y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                         f'<title>{day.isoformat()} {name}: {value}</title></rect>')
    step = max(1, len(days) // 6)
    for i in range(0, len(days), step):
        x = left + i * slot + slot / 2
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="10">'
                     f'{days[i].strftime("%m-%d")}</text>')
    parts.append("</svg>")
    return "".join(parts)
