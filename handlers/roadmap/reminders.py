"""/mute, /unmute and the buttons under a reminder digest (the digests themselves are queued
and rendered by bot/jobs/reminders.py)."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.callbacks import ReminderMute
from bot.ui.keyboards import roadmap as kb
from handlers.report import report_start
from models import User
from models.audit import record

# --- mute -----------------------------------------------------------------------------------


def _set_muted(session: AsyncSession, user: User, muted: bool) -> str:
    if user.reminders_muted != muted:
        user.reminders_muted = muted
        record(
            session,
            actor_id=user.id,
            action="reminders_muted" if muted else "reminders_unmuted",
            object_type="user",
            object_id=user.id,
        )
    if muted:
        return _("Reminders are off. /unmute turns them back on.")
    return _("Reminders are on. /mute turns them off.")


async def mute_command(message: Message, user: User, session: AsyncSession) -> None:
    await message.answer(_set_muted(session, user, True), reply_markup=kb.unmute())


async def unmute_command(message: Message, user: User, session: AsyncSession) -> None:
    await message.answer(_set_muted(session, user, False))


async def mute_button(
    query: CallbackQuery, callback_data: ReminderMute, user: User, session: AsyncSession
) -> None:
    muted = callback_data.action == "mute"
    text = _set_muted(session, user, muted)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb.unmute() if muted else None)


async def reminder_report(
    query: CallbackQuery, state: FSMContext, user: User, session: AsyncSession, settings: Settings
) -> None:
    if not isinstance(query.message, Message):
        await query.answer(_("Send /report to report an activity."), show_alert=True)
        return
    # The same start as /report: resumes a draft if there is one, otherwise begins anew.
    await report_start(query.message, state, user, session, settings)
