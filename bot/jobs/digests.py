"""The curators' digest of new reports: queued by a scheduled job, rendered at send time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.jobs.outbox import Outbox, Outgoing, Renderer
from bot.jobs.scheduler import Job, Scheduler
from bot.ui.formatting import trim
from models import ActivityReport, Notification, School, User
from models.base import utcnow
from models.digests import NEW_REPORTS, build_report_digests, pending_query

DIGEST_CHECK_SECONDS = 120


def digest_renderer(settings: Settings) -> Renderer:
    """Renders a NEW_REPORTS row at send time: only reports still awaiting review are listed."""

    async def render(session: AsyncSession, row: Notification, user: User) -> Outgoing | None:
        since = datetime.fromisoformat(row.payload["since"])
        until = datetime.fromisoformat(row.payload["until"])
        reports = (
            await session.execute(
                pending_query(user.id, since, until)
                .with_only_columns(ActivityReport.id, ActivityReport.title, School.short_name)
                .join(School, School.id == ActivityReport.school_id)
                .order_by(ActivityReport.submitted_at)
            )
        ).all()
        if not reports:
            return None
        lines = [
            _("<b>📥 New reports of your schools: {count}</b>").format(count=len(reports)),
        ]
        for report_id, title, school in reports[:10]:
            lines.append(f"• {escape(trim(school, 30))}: №{report_id} {escape(trim(title, 70))}")
        if len(reports) > 10:
            lines.append(_("… and {count} more.").format(count=len(reports) - 10))
        lines.append(_("Review them: /review"))
        return Outgoing(text="\n".join(lines))

    return render


def digest_job(settings: Settings, now: Callable[[], datetime] = utcnow) -> Job:
    interval = timedelta(minutes=settings.digest_minutes)

    async def job(session: AsyncSession) -> None:
        await build_report_digests(session, now=now(), interval=interval)

    return job


def setup_digests(scheduler: Scheduler, outbox: Outbox, settings: Settings) -> None:
    outbox.register(NEW_REPORTS, digest_renderer(settings))
    scheduler.every(DIGEST_CHECK_SECONDS, "report_digests", digest_job(settings))
