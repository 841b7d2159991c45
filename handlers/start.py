"""/start: onboarding through invite deep links, and the greeting."""

from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.ui.access import public
from bot.ui.commands import set_user_commands
from bot.ui.keyboards.report import main_menu
from bot.ui.routing import narrow
from bot.ui.states import SurveyAnswering
from bot.ui.texts import role_name
from handlers.surveys import respond as surveys
from models import Role, User
from models.errors import InviteError
from models.invites import looks_like_token, redeem_invite
from models.users import visible_schools

logger = logging.getLogger(__name__)


def invite_problem(error: InviteError) -> str:
    reasons = {
        "invite_expired": _("This invite link has expired. Ask for a new one."),
        "invite_used_up": _("This invite link has already been used the allowed number of times."),
        "invite_revoked": _("This invite link has been withdrawn. Ask for a new one."),
        "invite_already_registered": _(
            "You are already registered in the bot. An invite for another role must be "
            "arranged by your municipal coordinator."
        ),
    }
    return reasons.get(
        error.code,
        _(
            "This invite link is not valid. Check that you opened the whole link, "
            "or ask for a new one."
        ),
    )


async def greet(message: Message, user: User, session: AsyncSession) -> None:
    schools = await visible_schools(session, user, limit=4)
    names = ", ".join(escape(s.short_name) for s in schools[:3])
    if len(schools) > 3:
        names += ", …"
    text = _("Hello, {name}! You are registered as: {role}.").format(
        name=escape(user.full_name or ""), role=role_name(user.role)
    )
    if names:
        text += "\n" + _("Schools: {schools}").format(schools=names)
    text += "\n\n" + _("/help lists what you can do.")
    staff = user.role in (Role.TEACHER, Role.COORDINATOR)
    await message.answer(text, reply_markup=main_menu() if staff else None)


async def start(
    message: Message,
    command: CommandObject,
    user: User | None,
    session: AsyncSession,
    state: FSMContext,
    bot: Bot,
    i18n: I18n,
    settings: Settings,
) -> None:
    payload = (command.args or "").strip()
    if not payload:
        if user is None:
            await message.answer(
                _(
                    "This bot is for schools, their curators and municipal coordinators. "
                    "To get access, ask your municipal coordinator or curator for an invite "
                    "link and open it."
                )
            )
            return
        if not user.full_name and message.from_user is not None:
            user.full_name = message.from_user.full_name[:200]
            user.username = message.from_user.username
        await greet(message, user, session)
        await set_user_commands(bot, message.chat.id, user.role)
        return

    if not looks_like_token(payload):
        await message.answer(invite_problem(InviteError("invite_unknown")))
        return
    # Survey links are /start payloads too: a survey token is looked up first, by its hash.
    if await surveys.open_link(message, payload, session, state, settings):
        return
    if await state.get_state() == SurveyAnswering.question.state:
        # An invite in the middle of a survey would drop the survey and any form kept in it.
        await surveys.command_during_survey(message, state, session)
        return
    tg_user = message.from_user
    assert tg_user is not None  # private-chat messages always have a sender
    try:
        registered = await redeem_invite(
            session,
            payload,
            telegram_id=tg_user.id,
            full_name=tg_user.full_name,
            username=tg_user.username,
            locale=i18n.current_locale,
        )
    except InviteError as error:
        logger.info("invite refused for user %s: %s", tg_user.id, error.code)
        await message.answer(invite_problem(error))
        return
    await state.clear()
    logger.info("user %s registered as %s", tg_user.id, registered.role.value)
    await greet(message, registered, session)
    await set_user_commands(bot, message.chat.id, registered.role)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = narrow(Router(name=__name__), commands=True)
    router.message.register(start, CommandStart(), flags=public())
    return router
