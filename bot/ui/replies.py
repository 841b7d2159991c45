"""Replies: show a screen in place of the button's message or as a new message; edit earlier
messages. Telegram's «message is not modified» (a double tap, a re-tapped page) is a success.

Handlers don't answer button presses just to stop the spinner: the dispatcher's
CallbackAnswerPolicy answers every press the handler left unanswered (bot/middlewares.py).
Answer yourself only with a text (`query.answer(text)`, `show_alert=True` for what must be read)
or first thing before slow work (rendering a chart, building a file).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.pipeline.unit_of_work import commit_current_unit

logger = logging.getLogger(__name__)


def not_modified(error: TelegramBadRequest) -> bool:
    """A double tap or a re-tapped page asks for the text the message already has."""
    return "message is not modified" in error.message


async def edit_text(
    message: Message, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Edit in place; False when the message can't be edited (too old, deleted): send anew."""
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if not_modified(error):
            return True
        return False
    return True


async def edit_markup(message: Message, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace or remove a message's buttons; a message that can't be edited keeps them."""
    try:
        await message.edit_reply_markup(reply_markup=markup)
    except TelegramBadRequest:
        pass


async def edit_markup_by_id(bot: Bot, chat_id: int, message_id: int) -> None:
    """Take the buttons away from an earlier message of this chat, if it still has any."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
    except TelegramBadRequest:
        pass


async def edit_text_by_id(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> bool:
    """Edit an earlier message of this chat; False when it can't be edited any more."""
    try:
        await bot.edit_message_text(
            text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
        )
    except TelegramBadRequest as error:
        return not_modified(error)
    return True


async def show(
    event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """The one way to show a screen: after a button, edit its message in place (or send anew
    when it is too old or deleted); after a typed message, send a new one. Returns the message
    that now shows the screen (None when the button's message is inaccessible and there is
    nobody to send to)."""
    if isinstance(event, Message):
        return await event.answer(text, reply_markup=markup)
    message = event.message
    if isinstance(message, Message):
        if await edit_text(message, text, markup):
            return message
        return await message.answer(text, reply_markup=markup)
    if event.bot is None:
        return None
    return await event.bot.send_message(event.from_user.id, text, reply_markup=markup)


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Send several replies side by side: one Telegram round trip for all of them, not one
    each (with Telegram 150–250 ms away, the user's next step waited for every one in turn).

    What the update did is committed first: the calls run as tasks of their own, which never
    commit (bot/pipeline/unit_of_work.py). Every call runs to its end; then the first failure,
    if any, is raised as a single call's would be."""
    try:
        await commit_current_unit()
    except BaseException:
        for call in calls:
            if inspect.iscoroutine(call):
                call.close()  # never started: no «was never awaited»
        raise
    # As tasks: aiogram's method objects are awaitable but not hashable, as gather needs.
    tasks = [asyncio.ensure_future(call) for call in calls]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if failures:
        # A bug outranks Telegram refusing a call; the failures not raised are logged.
        failures.sort(key=lambda error: isinstance(error, TelegramAPIError))
        for other in failures[1:]:
            logger.warning("a reply sent beside another failed too", exc_info=other)
        raise failures[0]
    return list(results)
