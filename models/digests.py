"""Curators' digests of new reports: at most one message per interval, none lost to downtime.

Each run looks at the intervals that have ended: for every curator, the reports of their
schools submitted since the end of their previous digest and still awaiting review. The row's
key names the interval, so a second run or a second process adds nothing; a curator whose bot
was down for hours gets one digest that covers all of it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import ActivityReport, Notification, User, curator_schools
from models.enums import ReviewState, Role
from models.reminders import enqueue

NEW_REPORTS = "new_reports"
LOOKBACK = timedelta(days=2)


def interval_start(now: datetime, interval: timedelta) -> datetime:
    """The start of the interval containing `now`, counted from the Unix epoch in UTC."""
    seconds = interval.total_seconds()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + timedelta(seconds=((now - epoch).total_seconds() // seconds) * seconds)


async def _last_until(session: AsyncSession, since: datetime) -> dict[int, datetime]:
    rows = await session.execute(
        select(Notification.user_id, Notification.payload).where(
            Notification.kind == NEW_REPORTS, Notification.created_at >= since
        )
    )
    last: dict[int, datetime] = {}
    for user_id, payload in rows:
        until = datetime.fromisoformat((payload or {}).get("until", "1970-01-01T00:00:00+00:00"))
        last[user_id] = max(last.get(user_id, until), until)
    return last


def pending_query(user_id: int, since: datetime, until: datetime):  # type: ignore[no-untyped-def]
    """Reports of the curator's schools submitted in (since, until] and still awaiting review."""
    return (
        select(ActivityReport)
        .join(curator_schools, curator_schools.c.school_id == ActivityReport.school_id)
        .where(
            curator_schools.c.user_id == user_id,
            ActivityReport.submitted_at > since,
            ActivityReport.submitted_at <= until,
            ActivityReport.review_state == ReviewState.SUBMITTED,
        )
    )


async def build_report_digests(
    session: AsyncSession, *, now: datetime, interval: timedelta
) -> int:
    """Queue one digest row per curator with new reports; returns how many were added."""
    until = interval_start(now, interval)
    # Without a recent digest (first run, or nothing for days) look back LOOKBACK: what is still
    # awaiting review from then is news to the curator.
    default_since = now - LOOKBACK
    last = await _last_until(session, default_since)
    curators = await session.execute(
        select(User.id)
        .where(
            User.role == Role.CURATOR,
            User.is_active.is_(True),
            User.reminders_muted.is_(False),
        )
        .order_by(User.id)
    )
    added = 0
    for (user_id,) in curators:
        since = last.get(user_id, default_since)
        if since >= until:
            continue
        count = await session.scalar(
            select(func.count()).select_from(pending_query(user_id, since, until).subquery())
        )
        if not count:
            continue
        added += await enqueue(
            session,
            user_id=user_id,
            kind=NEW_REPORTS,
            dedupe_key=f"{NEW_REPORTS}:{user_id}:{until.isoformat()}",
            payload={"since": since.isoformat(), "until": until.isoformat()},
            now=now,
        )
    return added
