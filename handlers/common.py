"""Commands every user has: /cancel, /help, /lang, /whoami."""

from __future__ import annotations

from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot import edits, keyboards
from bot.access import EVERY_ROLE, allow, public
from bot.callbacks import Cancel, LangChoice
from bot.commands import commands_for, set_user_commands
from bot.texts import role_name
from models import User
from models.audit import record
from models.users import visible_schools


async def cancel_command(message: Message, state: FSMContext) -> None:
    had_form = await state.get_state() is not None
    await state.clear()
    text = (
        _("The form is closed. An unsent report draft is discarded; saved answers stay.")
        if had_form
        else _("There is nothing to cancel.")
    )
    await message.answer(text)


async def cancel_button(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await edits.edit_text(
            query.message,
            _("The form is closed. An unsent report draft is discarded; saved answers stay."),
        )


async def help_command(message: Message, user: User | None) -> None:
    role = user.role if user else None
    lines = [_("<b>What you can do here</b>")]
    if role is None:
        lines.append(
            _(
                "This bot is for schools, their curators and municipal coordinators. "
                "To get access, ask your municipal coordinator or curator for an invite link "
                "and open it."
            )
        )
    else:
        lines.append(_("You are registered as: {role}.").format(role=role_name(role)))
    lines += [f"/{c.command} — {c.description}" for c in commands_for(role)]
    await message.answer("\n".join(lines))


async def whoami(message: Message, user: User, session: AsyncSession) -> None:
    schools = await visible_schools(session, user, limit=11)
    names = ", ".join(escape(s.short_name) for s in schools[:10])
    if len(schools) > 10:
        names += ", …"
    await message.answer(
        _("Telegram id: <code>{tg_id}</code>\nRole: {role}\nSchools: {schools}").format(
            tg_id=user.telegram_id, role=role_name(user.role), schools=names or "—"
        )
    )


async def lang_command(message: Message) -> None:
    await message.answer(_("Choose the language:"), reply_markup=keyboards.languages())


async def lang_chosen(
    query: CallbackQuery,
    callback_data: LangChoice,
    user: User,
    session: AsyncSession,
    i18n: I18n,
    bot: Bot,
) -> None:
    if callback_data.code not in i18n.available_locales:
        await query.answer(_("This language is not available."), show_alert=True)
        return
    user.locale = callback_data.code
    record(
        session,
        actor_id=user.id,
        action="locale_set",
        object_type="user",
        object_id=user.id,
        locale=callback_data.code,
    )
    with i18n.use_locale(callback_data.code):
        text = (
            _("Language set: English.")
            if callback_data.code == "en"
            else _("Language set: Russian.")
        )
        await query.answer()
        if isinstance(query.message, Message):
            await edits.edit_text(query.message, text)
        await set_user_commands(bot, user.telegram_id, user.role)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.message.register(cancel_command, Command("cancel"), flags=public())
    router.callback_query.register(cancel_button, Cancel.filter(), flags=public())
    router.message.register(help_command, Command("help"), flags=public())
    router.message.register(whoami, Command("whoami"), flags=allow(EVERY_ROLE))
    router.message.register(lang_command, Command("lang"), flags=allow(EVERY_ROLE))
    router.callback_query.register(lang_chosen, LangChoice.filter(), flags=allow(EVERY_ROLE))
    return router
