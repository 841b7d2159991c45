"""Reminder digests computed into the Notification outbox; the bot's outbox sends them.

One row per person and day at most, never one per item. Its `dedupe_key` is unique, so running
the builder twice, after a restart or in two processes at once adds nothing new:

- ``deadlines:{user}:{day}`` — for a school coordinator: items due within the next days with no
  report, and items that became overdue, each announced once;
- ``curator_overdue:{user}:{day}`` — newly overdue items of the schools a curator follows;
- ``weekly:{school}:{iso week}:{user}`` — from Friday on, to the coordinators of a school that
  reported nothing this week.

Which items were announced is read back from earlier rows' payloads, so a digest only goes out
when it has something new. Muted users get no rows. Texts are rendered when a row is sent, in
the recipient's language, leaving out items reported meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.entities import Notification
from models.roadmaps import (
    DigestRow,
    due_soon_for_coordinators,
    overdue_for_coordinators,
    overdue_for_curators,
    silent_schools,
)

DEADLINES = "deadlines"
CURATOR_OVERDUE = "curator_overdue"
WEEKLY = "weekly"
KINDS = (DEADLINES, CURATOR_OVERDUE, WEEKLY)
# Payload fields listing item ids.
SOON, LATE = "due_soon", "overdue"
# «When it becomes overdue»: items overdue for longer were announced then (or predate the bot).
OVERDUE_LOOKBACK_DAYS = 30
# Friday: the week's nudge goes out while there is still time to report before the weekend.
WEEKLY_NUDGE_WEEKDAY = 4
# Announced items are looked up this far back: longer than any item stays a candidate.
REMEMBER_DAYS = OVERDUE_LOOKBACK_DAYS + 31


@dataclass(frozen=True)
class BuildResult:
    """Rows added per kind by one run of the builder."""

    added: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.added.values())


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def _announced(
    session: AsyncSession,
    kind: str,
    field: str,
    user_ids: Iterable[int],
    *,
    created_since: datetime,
) -> dict[int, set[int]]:
    """Item ids each user was already told about in the `field` list of digests of `kind`."""
    users = sorted(set(user_ids))
    if not users:
        return {}
    rows = await session.execute(
        select(Notification.user_id, Notification.payload).where(
            Notification.kind == kind,
            Notification.user_id.in_(users),
            Notification.created_at >= created_since,
        )
    )
    seen: dict[int, set[int]] = defaultdict(set)
    for user_id, payload in rows:
        seen[user_id].update(int(i) for i in (payload or {}).get(field, []))
    return seen


async def enqueue(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: datetime,
) -> bool:
    """Add an outbox row unless its key exists; True if this call added it."""
    insert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Notification)
        .values(
            user_id=user_id,
            kind=kind,
            dedupe_key=dedupe_key,
            payload=payload,
            due_at=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def _by_user(rows: Sequence[DigestRow]) -> dict[int, list[DigestRow]]:
    grouped: dict[int, list[DigestRow]] = defaultdict(list)
    for row in rows:
        grouped[row.user_id].append(row)
    return grouped


async def _digests(
    session: AsyncSession,
    kind: str,
    lists: dict[str, Sequence[DigestRow]],
    *,
    today: date,
    now: datetime,
) -> int:
    """One row per user with the items of each list not announced to them yet; rows added."""
    grouped = {field: _by_user(rows) for field, rows in lists.items()}
    users = sorted({user for by_user in grouped.values() for user in by_user})
    since = now - timedelta(days=REMEMBER_DAYS)
    seen = {
        field: await _announced(session, kind, field, users, created_since=since)
        for field in lists
    }
    added = 0
    for user_id in users:
        payload: dict[str, Any] = {"day": today.isoformat()}
        schools: set[int] = set()
        for field, by_user in grouped.items():
            known = seen[field].get(user_id, set())
            fresh = [row for row in by_user.get(user_id, []) if row.item_id not in known]
            payload[field] = [row.item_id for row in fresh]
            schools |= {row.school_id for row in fresh}
        if not schools:
            continue
        payload["school_ids"] = sorted(schools)
        added += await enqueue(
            session,
            user_id=user_id,
            kind=kind,
            dedupe_key=f"{kind}:{user_id}:{today.isoformat()}",
            payload=payload,
            now=now,
        )
    return added


async def build_reminders(
    session: AsyncSession, *, now: datetime, tz: tzinfo, days_before: int
) -> BuildResult:
    """Compute every digest due at `now` into the outbox; «today» is the date in `tz`."""
    today = now.astimezone(tz).date()
    since = today - timedelta(days=OVERDUE_LOOKBACK_DAYS)
    soon = await due_soon_for_coordinators(
        session, today=today, until=today + timedelta(days=days_before)
    )
    late = await overdue_for_coordinators(session, today=today, since=since)
    added = {
        DEADLINES: await _digests(
            session, DEADLINES, {SOON: soon, LATE: late}, today=today, now=now
        ),
        CURATOR_OVERDUE: await _digests(
            session,
            CURATOR_OVERDUE,
            {LATE: await overdue_for_curators(session, today=today, since=since)},
            today=today,
            now=now,
        ),
        WEEKLY: 0,
    }
    if today.weekday() >= WEEKLY_NUDGE_WEEKDAY:
        monday = week_start(today)
        since_utc = datetime.combine(monday, time(0), tzinfo=tz).astimezone(UTC)
        iso = today.isocalendar()
        week = f"{iso.year}-W{iso.week:02d}"
        for user_id, school_id in await silent_schools(session, since=since_utc):
            added[WEEKLY] += await enqueue(
                session,
                user_id=user_id,
                kind=WEEKLY,
                dedupe_key=f"{WEEKLY}:{school_id}:{week}:{user_id}",
                payload={
                    "school_ids": [school_id],
                    "week": week,
                    "since": since_utc.isoformat(),
                    "day": today.isoformat(),
                },
                now=now,
            )
    return BuildResult(added)
