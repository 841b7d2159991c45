"""Editing a message the bot sent: Telegram's «message is not modified» is a success."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message


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
