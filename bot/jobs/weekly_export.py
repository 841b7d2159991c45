"""The weekly XLSX export to the municipal coordination group (EXPORT_CHAT_ID), once per week.

The job runs at start and every minute. Each run looks at the latest period that is due by
EXPORT_SCHEDULE (exports/schedule.py) and posts it unless its ExportRun row says it is done,
held by another process, or waiting for its next attempt (models/export_runs.py). A bot that
was down at the scheduled time posts on start; only the latest due period is ever posted.

Per run: claim the row under a lease (renewed while the workbook is built from a read-only
session), build, then send. Telegram's answers: 429 waits ``retry_after`` when short and tries
again; server and network errors try again with a growing delay, SEND_TRIES times; whatever
still fails is recorded as failed with ``next_attempt_at`` (5 min, doubling, at most 1 h) and
a later run retries. 400/403 (chat gone, bot removed) wait the longest delay at once.

The crash window. sendDocument isn't idempotent and a process can stop after Telegram posted
the document but before ``done`` is committed. We chose *at most once* there: right before
each request the row is marked SENDING (committed), and a run found in that state after its
lease expired is settled as failed without an automatic retry (UNKNOWN_OUTCOME, logged as an
error), because a second post can't be taken back while a missing one can be made up by hand
(``python main.py export`` for the same week). A process that stopped before sending (while
building, or between tries) left no marker, so the run is simply taken over after the lease.
Two limits remain: an upload cut by a timeout may have arrived, and the Bot API session retries
such errors inline (bot/pipeline/telegram_retry.py); those are the usual at-least-once network
retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.jobs.scheduler import Scheduler
from exports.schedule import WeeklySchedule, due_period, format_period, next_run, parse_schedule
from exports.surveys import DEFAULT_MIN_RESPONSES

# build_export is re-exported: tests replace it where this module looks it up.
from exports.xlsx import ExportSummary, export_filename
from exports.xlsx import build_export as build_export
from models.base import utcnow
from models.export_runs import (
    MAX_RETRY_DELAY,
    WEEKLY,
    RunKey,
    begin_send,
    claim_run,
    ensure_run,
    record_attempt_error,
    record_failure,
    record_sent,
    region_schools_query,
    renew_lease,
    retry_delay,
    settle_interrupted,
)
from models.stats import SchoolFigures, school_figures

logger = logging.getLogger(__name__)

JOB_NAME: Final = "weekly_export"
WEEKLY_SECONDS: Final = 60
# Held while building; renewed every third of it, so a stopped process is replaced soon.
LEASE: Final = timedelta(minutes=3)
# Covers one sendDocument with the session's inline retries; renewed before every try.
SEND_LEASE: Final = timedelta(minutes=10)
SEND_TRIES: Final = 3
SEND_BACKOFF: Final = 2.0
MAX_INLINE_WAIT: Final = 60.0
# Schools named in the caption per list, and characters of a name there.
CAPTION_SCHOOLS: Final = 5
CAPTION_NAME_CHARS: Final = 40

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class _Document:
    data: bytes
    filename: str
    caption: str


def default_owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _school(name: str) -> str:
    name = name if len(name) <= CAPTION_NAME_CHARS else name[: CAPTION_NAME_CHARS - 1] + "…"
    return html.quote(name)


def _named(names: Sequence[str], total: int) -> str:
    """«A, B, C» and, past the bound, «and N more»."""
    text = ", ".join(names)
    if total > len(names):
        text += " " + _("and {count} more").format(count=total - len(names))
    return text


def weekly_caption(period: str, summary: ExportSummary, figures: Sequence[SchoolFigures]) -> str:
    """The post's text: totals, then the schools silent this week and those most overdue
    (at most ``CAPTION_SCHOOLS`` of each, named; a caption holds 1,024 characters)."""
    silent = [f for f in figures if f.reports_week == 0]
    overdue = sorted((f for f in figures if f.overdue), key=lambda f: (-f.overdue, f.short_name))
    lines = [
        _("📊 <b>Weekly export for the coordination group</b>: {period}").format(period=period),
        _("Schools: {schools} · reports for the week: {reports}").format(
            schools=summary.schools, reports=summary.reports
        ),
        _(
            "Without reports this week: {silent} · overdue activities: {overdue} · "
            "awaiting review: {awaiting}"
        ).format(
            silent=len(silent),
            overdue=sum(f.overdue for f in figures),
            awaiting=sum(f.awaiting_review for f in figures),
        ),
    ]
    if silent:
        names = [_school(f.short_name) for f in silent[:CAPTION_SCHOOLS]]
        lines.append(
            _("No reports this week: {schools}").format(schools=_named(names, len(silent)))
        )
    if overdue:
        names = [
            _("{school} ({count})").format(school=_school(f.short_name), count=f.overdue)
            for f in overdue[:CAPTION_SCHOOLS]
        ]
        lines.append(
            _("Most overdue activities: {schools}").format(schools=_named(names, len(overdue)))
        )
    return "\n".join(lines)


class WeeklyExport:
    """The job: ``run(session)`` posts the due week once; clocks and sleeps are injectable."""

    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        read_session_factory: async_sessionmaker[AsyncSession],
        *,
        chat_id: int,
        schedule: WeeklySchedule,
        tz: ZoneInfo,
        locale: str,
        now: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
        heartbeat_sleep: Sleep = asyncio.sleep,
        owner: str | None = None,
        min_responses: int = DEFAULT_MIN_RESPONSES,
    ) -> None:
        self.bot = bot
        self.i18n = i18n
        self.read_session_factory = read_session_factory
        self.chat_id = chat_id
        self.schedule = schedule
        self.tz = tz
        self.locale = locale
        self.owner = owner or default_owner()
        self.min_responses = min_responses  # survey figures from so many answers on
        self._now = now
        self._sleep = sleep
        self._heartbeat_sleep = heartbeat_sleep

    @classmethod
    def from_settings(
        cls,
        bot: Bot,
        i18n: I18n,
        settings: Settings,
        read_session_factory: async_sessionmaker[AsyncSession],
        **kwargs: object,
    ) -> WeeklyExport | None:
        """None when EXPORT_CHAT_ID is not set: no chat, no weekly job."""
        if settings.export_chat_id is None:
            return None
        return cls(
            bot,
            i18n,
            read_session_factory,
            chat_id=settings.export_chat_id,
            schedule=parse_schedule(settings.export_schedule),
            tz=settings.tz,
            locale=settings.default_locale,
            min_responses=settings.survey_min_responses,
            **kwargs,  # type: ignore[arg-type]
        )

    def next_run(self) -> datetime:
        return next_run(self._now(), self.tz, self.schedule)

    async def run(self, session: AsyncSession) -> bool:
        """Post the due week if it is this process's turn; True if it was posted now."""
        now = self._now()
        start, end = due_period(now, self.tz, self.schedule)
        key = RunKey(WEEKLY, self.chat_id, start, end)
        period = format_period(start, end)
        if await settle_interrupted(session, key, now=now):
            logger.error("weekly export %s: the sender stopped while sending; not resent", period)
        await ensure_run(session, key)
        run = await claim_run(session, key, owner=self.owner, now=now, lease=LEASE)
        await session.commit()
        if run is None:
            return False
        run_id, attempts = run.id, run.attempts
        logger.info("weekly export %s to chat %s: attempt %d", period, self.chat_id, attempts)
        try:
            document = await self._build_holding_lease(session, run_id, start, end)
        except Exception as exc:
            logger.exception("weekly export %s: building the workbook failed", period)
            await session.rollback()
            await self._give_up(session, run_id, exc, retry_delay(attempts))
            return False
        return await self._send(session, run_id, attempts, document, period)

    async def _build_holding_lease(
        self, session: AsyncSession, run_id: int, start: date, end: date
    ) -> _Document:
        # The heartbeat has a session of its own: cancelling it mid-query must not leave the
        # job's session half-used.
        heartbeat = asyncio.create_task(self._heartbeat(session.bind, run_id))
        try:
            return await self._build(start, end)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, bind: AsyncEngine | AsyncConnection | None, run_id: int) -> None:
        while True:
            await self._heartbeat_sleep(LEASE.total_seconds() / 3)
            try:
                async with AsyncSession(bind) as beat, beat.begin():
                    renewed = await renew_lease(
                        beat, run_id, owner=self.owner, now=self._now(), lease=LEASE
                    )
            except Exception:
                logger.warning("weekly export: renewing the lease failed", exc_info=True)
                continue
            if not renewed:
                return  # taken over: begin_send will stop this process from sending

    async def _build(self, start: date, end: date) -> _Document:
        today = self._now().astimezone(self.tz).date()
        buffer = io.BytesIO()
        async with self.read_session_factory() as read:
            summary = await build_export(
                read,
                schools=region_schools_query(),
                start=start,
                end=end,
                tz=self.tz,
                out=buffer,
                today=today,
                min_responses=self.min_responses,
            )
            figures = await school_figures(
                read, region_schools_query(), today=today, week_start=start, week_end=end
            )
        with self.i18n.context(), self.i18n.use_locale(self.locale):
            caption = weekly_caption(format_period(start, end), summary, figures)
        return _Document(buffer.getvalue(), export_filename(start, end), caption)

    async def _send(
        self, session: AsyncSession, run_id: int, attempts: int, document: _Document, period: str
    ) -> bool:
        chat_id = self.chat_id
        last_error: TelegramAPIError | None = None
        for attempt in range(1, SEND_TRIES + 1):
            if not await begin_send(
                session, run_id, owner=self.owner, now=self._now(), lease=SEND_LEASE
            ):
                await session.commit()
                logger.warning("weekly export %s: taken over by another process", period)
                return False
            await session.commit()
            try:
                message = await self.bot.send_document(
                    chat_id,
                    BufferedInputFile(document.data, filename=document.filename),
                    caption=document.caption,
                )
            except TelegramRetryAfter as exc:
                last_error = exc
                wait = float(exc.retry_after)
                if wait > MAX_INLINE_WAIT or attempt == SEND_TRIES:
                    delay = max(timedelta(seconds=wait), retry_delay(attempts))
                    return await self._give_up(session, run_id, exc, delay)
                await self._retry_later_in_run(session, run_id, exc, wait, period)
                continue
            except TelegramMigrateToChat as exc:
                # Not posted; the group became a supergroup. Post there, and say so loudly.
                logger.error(
                    "EXPORT_CHAT_ID: the group is now the supergroup %s; update the setting",
                    exc.migrate_to_chat_id,
                )
                chat_id, last_error = exc.migrate_to_chat_id, exc
                await self._retry_later_in_run(session, run_id, exc, 0.0, period)
                continue
            except TelegramEntityTooLarge as exc:
                return await self._give_up(session, run_id, exc, MAX_RETRY_DELAY)
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt == SEND_TRIES:
                    return await self._give_up(session, run_id, exc, retry_delay(attempts))
                await self._retry_later_in_run(
                    session, run_id, exc, SEND_BACKOFF * 2 ** (attempt - 1), period
                )
                continue
            except TelegramAPIError as exc:
                # Chat not found, bot removed, no right to send files: a person has to act.
                logger.error("weekly export %s refused by Telegram: %s", period, exc.message)
                return await self._give_up(session, run_id, exc, MAX_RETRY_DELAY)
            await record_sent(session, run_id, message_id=message.message_id, now=self._now())
            await session.commit()
            logger.info("weekly export %s posted to chat %s", period, chat_id)
            return True
        # Only a migrated chat gets here (every other last try gives up above).
        assert last_error is not None
        return await self._give_up(session, run_id, last_error, retry_delay(attempts))

    async def _retry_later_in_run(
        self, session: AsyncSession, run_id: int, exc: TelegramAPIError, wait: float, period: str
    ) -> None:
        logger.warning(
            "weekly export %s not sent (%s); trying again in %.0f s", period, _describe(exc), wait
        )
        await record_attempt_error(
            session,
            run_id,
            owner=self.owner,
            error=_describe(exc),
            now=self._now(),
            lease=SEND_LEASE + timedelta(seconds=wait),
        )
        await session.commit()
        if wait > 0:
            await self._sleep(wait)

    async def _give_up(
        self, session: AsyncSession, run_id: int, exc: BaseException, delay: timedelta
    ) -> bool:
        retry_at = self._now() + delay
        logger.warning(
            "weekly export run %s failed (%s); next attempt at %s",
            run_id,
            _describe(exc),
            retry_at.isoformat(timespec="seconds"),
        )
        await record_failure(
            session, run_id, owner=self.owner, error=_describe(exc), retry_at=retry_at
        )
        await session.commit()
        return False


def _describe(exc: BaseException) -> str:
    message = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    return f"{type(exc).__name__}: {message}"


def setup(
    scheduler: Scheduler,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
    read_session_factory: async_sessionmaker[AsyncSession],
) -> WeeklyExport | None:
    """Register the weekly export job if EXPORT_CHAT_ID is set; it runs at start, then every
    minute."""
    job = WeeklyExport.from_settings(bot, i18n, settings, read_session_factory)
    if job is None:
        logger.info("weekly export: EXPORT_CHAT_ID not set, no weekly export")
        return None
    scheduler.every(WEEKLY_SECONDS, JOB_NAME, job.run)
    logger.info(
        "weekly export to chat %s (%s, %s); next regular post at %s",
        job.chat_id,
        job.schedule,
        settings.timezone,
        job.next_run().astimezone(job.tz).isoformat(timespec="minutes"),
    )
    return job
