"""The commands menu: per role and language, set per chat when a user registers or switches."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from models import Role

logger = logging.getLogger(__name__)


def commands_for(role: Role | None) -> list[BotCommand]:
    """What /help and the menu show; must agree with the access flags of the handlers."""
    items: list[tuple[str, str]] = []
    if role in (Role.TEACHER, Role.COORDINATOR):
        items += [
            ("report", _("Log an activity")),
            ("my", _("My reports")),
            ("evidence", _("Add evidence to a report")),
        ]
    if role == Role.MUNICIPAL:
        items += [("addschool", _("Register a school")), ("invite", _("Create an invite link"))]
    if role in (Role.COORDINATOR, Role.CURATOR, Role.MUNICIPAL):
        items += [("diagnostics", _("Self-diagnosis"))]
        items += [("documents", _("Reports and notes as Word documents"))]
    if role in (Role.COORDINATOR, Role.MUNICIPAL):
        items += [("survey", _("Anonymous surveys of pupils, parents, teachers"))]
    if role in (Role.CURATOR, Role.MUNICIPAL):
        items += [
            ("review", _("Reports awaiting review")),
            ("export", _("XLSX export for a period")),
            ("schools", _("My schools")),
        ]
    if role is not None:
        items += [("roadmap", _("The school's roadmap"))]
    if role in (Role.COORDINATOR, Role.CURATOR, Role.MUNICIPAL):
        items += [("mute", _("Turn reminders off")), ("unmute", _("Turn reminders on"))]
    if role is not None:
        items += [("status", _("Progress summary")), ("whoami", _("Who am I in the bot"))]
    items += [("help", _("What I can do"))]
    if role is not None:
        items += [("lang", _("Language: Русский / English"))]
    items += [("cancel", _("Leave the current form"))]
    if role is None:
        items.insert(0, ("start", _("Start / open an invite link")))
    return [BotCommand(command=c, description=d) for c, d in items]


async def set_default_commands(bot: Bot, i18n: I18n) -> None:
    """Strangers' menu in each language, and the default language for everyone else."""
    for locale in i18n.available_locales:
        with i18n.use_locale(locale):
            await bot.set_my_commands(
                commands_for(None), scope=BotCommandScopeDefault(), language_code=locale
            )
    with i18n.use_locale(i18n.default_locale):
        await bot.set_my_commands(commands_for(None), scope=BotCommandScopeDefault())


async def set_user_commands(bot: Bot, chat_id: int, role: Role | None) -> None:
    """Menu for one private chat in the current locale; a failure must not break the handler."""
    try:
        await bot.set_my_commands(commands_for(role), scope=BotCommandScopeChat(chat_id=chat_id))
    except TelegramAPIError as exc:
        logger.warning("could not set commands for chat %s: %s", chat_id, type(exc).__name__)
