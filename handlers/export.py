"""/export [period]: the XLSX export of the schools a curator or municipal coordinator sees.

The workbook is read through a read-only session of its own (``read_session_factory``), never
the update's session: on SQLite a long export then holds no lock that the bot's writers wait
for. The schools are always those of ``visible_schools_query(user)``.
"""

from __future__ import annotations

import io
import logging
from html import escape

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.chat_action import ChatActionSender
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.pipeline.unit_of_work import commit_current_unit
from bot.ui import formatting as fmt
from bot.ui.access import OVERSIGHT, allow
from exports.schedule import PeriodError, format_period, parse_period
from exports.xlsx import ExportSummary, build_export, export_filename
from models import User
from models.users import count_visible_schools, visible_schools_query

logger = logging.getLogger(__name__)
EXPORTERS = allow(OVERSIGHT)


def period_problem(error: PeriodError) -> str:
    """What was wrong with the period, and what works."""
    hint = _(
        "Examples: /export (the last full week), /export 16.11.2026-22.11.2026, "
        "/export week, /export last week, /export month, /export last month."
    )
    if error.code == "order":
        problem = _("The period ends before it starts: {period}.").format(
            period=escape(error.value)
        )
    elif error.code == "date":
        problem = _("There is no such date: {value}.").format(value=escape(error.value))
    elif error.code == "too_long":
        problem = _("The period is too long: at most {days} days.").format(days=error.value)
    else:
        problem = _("I did not understand the period «{text}».").format(
            text=escape(error.value[:100])
        )
    return f"{problem}\n{hint}"


def export_caption(period: str, summary: ExportSummary) -> str:
    return _("📊 Export for {period}\nSchools: {schools} · reports: {reports}").format(
        period=period, schools=summary.schools, reports=summary.reports
    )


async def export_command(
    message: Message,
    command: CommandObject,
    user: User,
    bot: Bot,
    settings: Settings,
    read_session_factory: async_sessionmaker[AsyncSession],
) -> None:
    try:
        start, end = parse_period(command.args, fmt.today(settings))
    except PeriodError as error:
        await message.answer(period_problem(error))
        return
    period = format_period(start, end)
    # The workbook is read through read-only sessions and takes seconds: nothing of this
    # update's may stay open (on SQLite, the write lock) meanwhile.
    await commit_current_unit()
    async with read_session_factory() as read:
        schools = await count_visible_schools(read, user)
    if schools == 0:
        await message.answer(_("You have no schools yet, so there is nothing to export."))
        return
    await message.answer(_("⏳ Preparing the export for {period}…").format(period=period))
    buffer = io.BytesIO()
    try:
        async with (
            ChatActionSender.upload_document(bot=bot, chat_id=message.chat.id),
            read_session_factory() as read,
        ):
            summary = await build_export(
                read,
                schools=visible_schools_query(user),
                start=start,
                end=end,
                tz=settings.tz,
                out=buffer,
                today=fmt.today(settings),
                min_responses=settings.survey_min_responses,
            )
    except Exception:
        logger.exception("export %s for user %s failed", period, user.id)
        await message.answer(_("The export could not be prepared. Please try again later."))
        return
    document = BufferedInputFile(buffer.getvalue(), filename=export_filename(start, end))
    try:
        await message.answer_document(document, caption=export_caption(period, summary))
    except TelegramEntityTooLarge:
        size = f"{len(document.data) / 1024 / 1024:.1f}"
        await message.answer(
            _("The file is too large to send ({size} MB). Choose a shorter period.").format(
                size=size
            )
        )
    except TelegramBadRequest as error:
        logger.warning("export %s for user %s rejected: %s", period, user.id, error.message)
        await message.answer(_("Telegram did not accept the file. Please try again later."))


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(export_command, Command("export"), flags=EXPORTERS)
    return router
