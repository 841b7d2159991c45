"""bot/pipeline/json_session.py: Bot API calls as JSON carry what aiogram's form carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.dispatcher import create_bot
from bot.pipeline.json_session import JsonAiohttpSession, _NeedsForm, json_body, loads_reply
from bot.ui.markup import Keyboard
from tests.telegram import TOKEN


def _keyboard() -> Any:
    keyboard = Keyboard()
    for number in range(3):
        keyboard.button(text=f"Мероприятие «{number}» <b>", callback_data=f"ri:{number}")
    return keyboard.adjust(1).as_markup()


METHODS: list[TelegramMethod[Any]] = [
    SendMessage(chat_id=7, text="Отчёт <b>сохранён</b> — «да»", reply_markup=_keyboard()),
    SendMessage(chat_id=7, text="plain", parse_mode=None, disable_notification=False),
    SendMessage(
        chat_id=7,
        text="меню",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="📝 Отчёт")]], resize_keyboard=True, is_persistent=True
        ),
    ),
    SendMessage(chat_id=7, text="убрать", reply_markup=ReplyKeyboardRemove()),
    EditMessageText(chat_id=7, message_id=12, text="Шаг 2 из 4", reply_markup=_keyboard()),
    EditMessageReplyMarkup(chat_id=7, message_id=12, reply_markup=None),
    AnswerCallbackQuery(
        callback_query_id="42", text="Эта кнопка уже не действует", show_alert=True
    ),
    AnswerCallbackQuery(callback_query_id="43"),
    DeleteMessage(chat_id=7, message_id=3),
    SetMyCommands(
        commands=[BotCommand(command="report", description="Отчёт")],
        scope=BotCommandScopeChat(chat_id=7),
        language_code="ru",
    ),
    BanChatMember(chat_id=-100, user_id=5, until_date=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
]


def _bot() -> Bot:
    return Bot(
        TOKEN,
        session=JsonAiohttpSession(),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def _form_params(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """What aiogram's own form sends, each JSON-encoded field read back."""
    session = bot.session
    assert isinstance(session, JsonAiohttpSession)
    params: dict[str, Any] = {}
    for options, _headers, value in session.build_form_data(bot, method)._fields:
        try:
            params[options["name"]] = json.loads(value)
        except ValueError:
            params[options["name"]] = value
    return params


def _plain(value: Any) -> Any:
    """A form sends every scalar as text and leaves out false and empty values."""
    if isinstance(value, Enum):  # aiohttp sends a str enum's own text
        value = value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v not in (False, "", 0, None, [], {})}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if not isinstance(value, bool) else value


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
async def test_json_body_carries_what_aiograms_form_carries(method: TelegramMethod[Any]) -> None:
    bot = _bot()
    try:
        sent = json.loads(json_body(bot, method))
        assert _plain(sent) == _plain(_form_params(bot, method))
    finally:
        await bot.session.close()


async def test_json_body_fills_in_the_bots_defaults_and_leaves_out_none() -> None:
    bot = _bot()
    try:
        sent = json.loads(
            json_body(bot, SendMessage(chat_id=7, text="x", reply_markup=_keyboard()))
        )
        assert sent["parse_mode"] == "HTML"
        assert sent["link_preview_options"] == {"is_disabled": True}
        assert "message_thread_id" not in sent
        assert sent["reply_markup"]["inline_keyboard"][0] == [
            {"text": "Мероприятие «0» <b>", "callback_data": "ri:0"}
        ]
    finally:
        await bot.session.close()


async def test_files_and_defaults_inside_objects_are_left_to_aiograms_form() -> None:
    bot = _bot()
    try:
        with pytest.raises(_NeedsForm):
            json_body(bot, SendDocument(chat_id=7, document=BufferedInputFile(b"x", "a.xlsx")))
        photo = InputMediaPhoto(media="https://school.ru/a.jpg", caption="<b>фото</b>")
        with pytest.raises(_NeedsForm):  # its parse_mode is the bot's default
            json_body(bot, SendMediaGroup(chat_id=7, media=[photo]))
    finally:
        await bot.session.close()


async def test_calls_go_as_json_and_uploads_as_a_form_over_http(settings, api) -> None:
    bot = create_bot(settings.model_copy(update={"telegram_api_url": api.url}))
    try:
        sent = await bot.send_message(7, "Отчёт <b>сохранён</b>", reply_markup=_keyboard())
        assert sent.text == "Отчёт <b>сохранён</b>" and sent.chat.id == 7
        # Telegram echoed the keyboard back (the stand-in does as it does); left unread.
        assert sent.reply_markup is None
        await bot.send_document(7, BufferedInputFile(b"PK\x03\x04", "Отчёт.xlsx"), caption="📊")
    finally:
        await bot.session.close()
    message, document = api.calls
    assert message.content_type == "application/json"
    assert (
        message.params["reply_markup"]
        == json.loads(json_body(bot, SendMessage(chat_id=7, text="x", reply_markup=_keyboard())))[
            "reply_markup"
        ]
    )
    assert message.params["parse_mode"] == "HTML"
    assert document.content_type.startswith("multipart/form-data")
    attached = document.params["document"].removeprefix("attach://")
    assert document.params[attached] == {"filename": "Отчёт.xlsx", "content": b"PK\x03\x04"}
    assert document.params["parse_mode"] == "HTML"


def test_only_the_keyboard_echoed_in_a_reply_is_left_out() -> None:
    keyboard = {"inline_keyboard": [[{"text": "Готово", "callback_data": "rm:done"}]]}
    message = {"message_id": 5, "chat": {"id": 7}, "text": "Карточка", "reply_markup": keyboard}
    reply = loads_reply(json.dumps({"ok": True, "result": message}))
    assert reply == {
        "ok": True,
        "result": {k: v for k, v in message.items() if k != "reply_markup"},
    }
    # Updates keep theirs: a pressed button's message is read with its keyboard.
    updates = {"ok": True, "result": [{"update_id": 1, "callback_query": {"message": message}}]}
    assert loads_reply(json.dumps(updates)) == updates
    failure = {"ok": False, "error_code": 400, "description": "Bad Request: message not found"}
    assert loads_reply(json.dumps(failure)) == failure
