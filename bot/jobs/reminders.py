"""Roadmap reminders: the scheduled job that queues digests, and their renderers for the outbox.

Coordinators get their school's deadlines (soon and overdue) and a weekly nudge when nothing was
reported; curators get the overdue activities of their schools. Every renderer re-checks, at send
time, who the recipient is now and what is still open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.jobs.outbox import Outbox, Outgoing, Renderer
from bot.jobs.scheduler import Job, Scheduler
from bot.ui.formatting import day, fit, one_line
from bot.ui.keyboards import roadmap as kb
from models import Notification, RoadmapItem, Role, School, User
from models.base import utcnow
from models.reminders import CURATOR_OVERDUE, DEADLINES, LATE, SOON, WEEKLY, build_reminders
from models.roadmaps import count_overdue, curated_school_ids, open_items, school_reported_since

logger = logging.getLogger(__name__)

# The job looks every few minutes; digests are built between REMINDER_HOUR and this.
REMINDER_CHECK_SECONDS = 600
QUIET_FROM_HOUR = 21
# A digest that waited longer than this (the bot was down) is not worth sending any more.
STALE_DAYS = 2
DIGEST_ITEMS = 10


def _digest_lines(items: Sequence[tuple[RoadmapItem, str]], *, by_school: bool) -> list[str]:
    lines: list[str] = []
    school: str | None = None
    for item, school_name in items[:DIGEST_ITEMS]:
        if by_school and school_name != school:
            school = school_name
            lines.append(f"<b>{escape(one_line(school_name, 80))}</b>")
        number = f"{escape(one_line(item.number, 10))}. " if item.number else ""
        due = escape(one_line(item.due_raw, 50)) if item.due_raw else day(item.due_date)
        lines.append(f"• {number}{escape(one_line(item.title, 100))} ({due})")
    if len(items) > DIGEST_ITEMS:
        lines.append(_("… and {count} more.").format(count=len(items) - DIGEST_ITEMS))
    return lines


def _payload_ids(notification: Notification, name: str) -> list[int]:
    values = (notification.payload or {}).get(name) or []
    return [int(v) for v in values if isinstance(v, int | str) and str(v).isdigit()]


def _stale(notification: Notification, today: date) -> bool:
    day = (notification.payload or {}).get("day")
    try:
        return day is None or (today - date.fromisoformat(str(day))).days > STALE_DAYS
    except ValueError:
        return True


def reminder_renderers(
    settings: Settings, clock: Callable[[], datetime] = utcnow
) -> dict[str, Renderer]:
    """Renderers of the reminder kinds for the outbox; each re-checks who may see what."""

    def today() -> date:
        return clock().astimezone(settings.tz).date()

    def coordinator_school(notification: Notification, user: User, day: date) -> int | None:
        if user.reminders_muted or user.role != Role.COORDINATOR or _stale(notification, day):
            return None
        school_ids = _payload_ids(notification, "school_ids")
        return user.school_id if user.school_id in school_ids else None

    async def deadlines(session: AsyncSession, n: Notification, user: User) -> Outgoing | None:
        day = today()
        school_id = coordinator_school(n, user, day)
        if school_id is None:
            return None
        soon = await open_items(
            session, _payload_ids(n, SOON), school_ids=[school_id], today=day, overdue=False
        )
        late = await open_items(
            session, _payload_ids(n, LATE), school_ids=[school_id], today=day, overdue=True
        )
        if not soon and not late:
            return None
        lines = [_("<b>⏰ Roadmap deadlines</b>")]
        if soon:
            lines += [
                "",
                _("Due within {days} days and not reported yet:").format(
                    days=settings.reminder_days_before
                ),
                *_digest_lines(soon, by_school=False),
            ]
        if late:
            total = await count_overdue(session, school_id, today=day)
            lines += [
                "",
                _("<b>Overdue</b>: the deadline has passed and no report marks them «done»:"),
                *_digest_lines(late, by_school=False),
                _(
                    "Overdue at the school in total: {count}. /roadmap shows the whole roadmap."
                ).format(count=total),
            ]
        lines += [
            "",
            _("When an activity has been held, report it with /report or the button below."),
        ]
        return Outgoing(fit(lines), kb.reminder_actions(report=True))

    async def curator_overdue(
        session: AsyncSession, n: Notification, user: User
    ) -> Outgoing | None:
        day = today()
        if user.reminders_muted or user.role != Role.CURATOR or _stale(n, day):
            return None
        schools = await curated_school_ids(session, user.id)
        items = await open_items(
            session, _payload_ids(n, LATE), school_ids=schools, today=day, overdue=True
        )
        if not items:
            return None
        lines = [
            _("<b>⚠ Overdue activities in your schools</b>"),
            _("The deadline has passed and no report marks them «done»:"),
            *_digest_lines(items, by_school=True),
        ]
        return Outgoing(fit(lines), kb.reminder_actions(report=False))

    async def weekly(session: AsyncSession, n: Notification, user: User) -> Outgoing | None:
        school_id = coordinator_school(n, user, today())
        since_text = (n.payload or {}).get("since")
        if school_id is None or not since_text:
            return None
        if await school_reported_since(session, school_id, datetime.fromisoformat(since_text)):
            return None
        school = await session.get(School, school_id)
        if school is None or not school.is_active:
            return None
        text = _(
            "<b>Weekly reminder</b>\nNo activity of {school} has been reported this week yet. "
            "If something was held, report it now: it takes a couple of minutes."
        ).format(school=escape(school.short_name))
        return Outgoing(text, kb.reminder_actions(report=True))

    return {DEADLINES: deadlines, CURATOR_OVERDUE: curator_overdue, WEEKLY: weekly}


def reminders_job(settings: Settings, now: Callable[[], datetime] = utcnow) -> Job:
    """The scheduled job: digests go into the outbox in the morning-to-evening window only."""

    async def job(session: AsyncSession) -> None:
        moment = now()
        hour = moment.astimezone(settings.tz).hour
        if not settings.reminder_hour <= hour < max(QUIET_FROM_HOUR, settings.reminder_hour + 1):
            return
        result = await build_reminders(
            session, now=moment, tz=settings.tz, days_before=settings.reminder_days_before
        )
        if result.total:
            logger.info("reminders queued: %s", result.added)

    return job


def setup_reminders(scheduler: Scheduler, outbox: Outbox, settings: Settings) -> None:
    """Register the reminder renderers with the outbox and the digest job with the scheduler."""
    for kind, renderer in reminder_renderers(settings).items():
        outbox.register(kind, renderer)
    scheduler.every(REMINDER_CHECK_SECONDS, "reminders", reminders_job(settings))
