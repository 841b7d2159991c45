"""The error router: users get a short translated message, logs get the traceback."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import ErrorEvent, Update
from aiogram.utils.i18n import gettext as _

from bot.ui.replies import not_modified
from models.errors import AccessDenied, DomainError, NotFound

logger = logging.getLogger(__name__)


def describe(error: DomainError) -> str:
    if isinstance(error, AccessDenied):
        return _("This is not available to you.")
    if isinstance(error, NotFound):
        return _("This item no longer exists or is not available to you.")
    return _("That did not work. Please check and try again.")


def _private_chat_of(update: Update) -> int | None:
    if update.message is not None and update.message.chat.type == "private":
        return update.message.chat.id
    query = update.callback_query
    if query is not None and query.message is not None and query.message.chat.type == "private":
        return query.message.chat.id
    return None


async def on_error(event: ErrorEvent, bot: Bot) -> None:
    update = event.update
    error = event.exception
    if isinstance(error, TelegramBadRequest) and not_modified(error):
        # A double tap asked for the text the message already shows: nothing went wrong.
        logger.info("update %s: message not modified", update.update_id)
        return
    if isinstance(error, TelegramAPIError):
        logger.warning(
            "update %s: reply not delivered: %s", update.update_id, type(error).__name__
        )
        text = _(
            "Your input is saved, but my answer could not be delivered. "
            "Send /help or repeat the last step in a minute."
        )
    elif isinstance(error, DomainError):
        logger.info("update %s: %s %s", update.update_id, type(error).__name__, error.code)
        text = describe(error)
    else:
        logger.error(
            "update %s failed: %s", update.update_id, type(error).__name__, exc_info=error
        )
        text = _(
            "Sorry, something went wrong on our side. What you entered before is saved; "
            "please try again in a minute."
        )
    try:
        if isinstance(error, TelegramAPIError):
            chat = _private_chat_of(update)
            if chat is not None:
                await bot.send_message(chat, text)
        elif update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None and update.message.chat.type == "private":
            await bot.send_message(update.message.chat.id, text)
    except TelegramAPIError as exc:
        logger.warning("could not tell the user about the error: %s", type(exc).__name__)


def create_router() -> Router:
    """A fresh router per Dispatcher: routers can't be shared, and tests build many."""
    router = Router(name=__name__)
    router.error.register(on_error)
    return router
