"""Fake Telegram at the session boundary: aiogram's own request/response code runs for real.

Requests are recorded first in, first out; responses are queued JSON (or generated for the
common methods), then parsed by aiogram's BaseSession.check_response exactly as from HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
    User,
)
from sqlalchemy import Connection, Engine, Pool, event

from bot.pipeline.unit_of_work import current_unit

# Every transaction open on any engine, by the asyncio task that opened it: a Bot API call made
# by a task that still has one is a lock held across a Telegram round trip
# (bot/pipeline/unit_of_work.py).
_OPEN: dict[asyncio.Task[Any] | None, set[int]] = {}
SESSIONS: list[RecordingSession] = []


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _dbapi_id(connection: Connection) -> int | None:
    # Not `.connection`: on an invalidated connection (a simulated crash) that reconnects.
    fairy = connection._dbapi_connection
    return None if fairy is None or fairy.dbapi_connection is None else id(fairy.dbapi_connection)


def _forget(dbapi_id: int | None) -> None:
    if dbapi_id is None:
        return
    for connections in _OPEN.values():
        connections.discard(dbapi_id)


@event.listens_for(Engine, "begin")
def _on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # no transaction in the database (the scheduler's advisory-lock connection)
    dbapi_id = _dbapi_id(connection)
    if dbapi_id is not None:
        _OPEN.setdefault(_task(), set()).add(dbapi_id)


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _on_end(connection: Connection) -> None:
    _forget(_dbapi_id(connection))


@event.listens_for(Pool, "checkin")
@event.listens_for(Pool, "invalidate")
@event.listens_for(Pool, "close")
def _on_release(dbapi_connection: Any, *args: Any) -> None:
    # A connection back in the pool (or gone, after a simulated crash) has no transaction.
    _forget(id(dbapi_connection))


def open_transactions() -> int:
    """Transactions the current task has open, on any engine, plus the running update's own
    when it is still open: a task the update started (replies sent side by side) inherits the
    update's context, and its call waits on Telegram while the update's lock is held."""
    unit = current_unit.get()
    inherited = unit is not None and unit.task is not _task() and unit.session.in_transaction()
    return len(_OPEN.get(_task(), ())) + inherited


# What Telegram's HTML parse mode accepts (core.telegram.org/bots/api#html-style).
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
TELEGRAM_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
LIMITS = {"text": 4096, "caption": 1024}


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.shown: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag <{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"unexpected </{tag}> (open: {self.open})")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or "&" in data:
            self.problems.append(f"unescaped < or & in {data[:40]!r}")
        self.shown.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in TELEGRAM_ENTITIES:
            self.problems.append(f"unknown entity &{name};")
        self.shown.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.shown.append(unescape(f"&#{name};"))


def telegram_html_problems(text: str, limit: int = LIMITS["text"]) -> list[str]:
    """What Telegram would refuse in a message of its HTML: «can't parse entities» (a tag cut
    in two, an unsupported tag, a bare < or &) or «message is too long» (the shown text, in
    UTF-16 code units as Telegram counts, over the limit)."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.rawdata:
        parser.problems.append(f"unfinished markup {parser.rawdata[:40]!r}")
    if parser.open:
        parser.problems.append(f"unclosed {parser.open}")
    shown = len("".join(parser.shown).encode("utf-16-le")) // 2
    if shown > limit:
        parser.problems.append(f"too long: {shown} > {limit}")
    return parser.problems


def _html_problems(method: TelegramMethod[Any]) -> list[str]:
    mode = getattr(method, "parse_mode", None)
    if not (isinstance(mode, Default) or mode == "HTML"):
        return []
    problems = []
    for name, limit in LIMITS.items():
        value = getattr(method, name, None)
        if isinstance(value, str):
            found = telegram_html_problems(value, limit)
            problems += [f"{type(method).__name__}.{name}: {p}" for p in found]
    return problems


def inline_keyboard(request: Any) -> list[list[InlineKeyboardButton]]:
    """The inline keyboard a recorded request carries (fails the test when it has none)."""
    markup = getattr(request, "reply_markup", None)
    assert isinstance(markup, InlineKeyboardMarkup), f"no inline keyboard on {request!r}"[:300]
    return markup.inline_keyboard


BOT_ID = 42
TOKEN = "42:TEST-token-for-the-suite-0123456789abcdef"


@dataclass
class QueuedResponse:
    status: int
    body: dict[str, Any]
    network_error: bool = False


class RecordingSession(BaseSession):
    """A bot session that records every method call and answers without the network."""

    def __init__(self) -> None:
        super().__init__()
        # Calls made while the calling task had a database transaction open: tests fail on any.
        self.violations: list[str] = []
        # Button presses answered more than once (Telegram refuses the second answer).
        self.answered: set[str] = set()
        self.double_answers: list[str] = []
        # Texts Telegram would refuse (HTML it can't parse, or too long).
        self.html_problems: list[str] = []
        SESSIONS.append(self)
        self.requests: deque[TelegramMethod[Any]] = deque()
        self.responses: deque[QueuedResponse] = deque()
        self._message_ids = itertools.count(10_000)

    def add_result(self, result: Any) -> None:
        self.responses.append(QueuedResponse(200, {"ok": True, "result": result}))

    def add_error(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.responses.append(QueuedResponse(status, body))

    def add_network_error(self) -> None:
        """The next call fails as a dropped connection or a timeout would."""
        self.responses.append(QueuedResponse(0, {}, network_error=True))

    def get_request(self) -> TelegramMethod[Any]:
        return self.requests.popleft()

    def drain(self) -> list[TelegramMethod[Any]]:
        items = list(self.requests)
        self.requests.clear()
        return items

    async def close(self) -> None:
        pass

    def _default_result(self, method: TelegramMethod[Any]) -> Any:
        name = type(method).__name__
        if name == "GetMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Отчёты",
                "username": "school_reports_bot",
            }
        if name.startswith(("Send", "Edit", "Copy")) and name not in {"SendChatAction"}:
            chat_id = getattr(method, "chat_id", None) or 1
            message: dict[str, Any] = {
                "message_id": getattr(method, "message_id", None) or next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if int(chat_id) > 0 else "group"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Отчёты"},
            }
            if getattr(method, "text", None):
                message["text"] = method.text  # type: ignore[attr-defined]
            if name == "SendDocument":
                message["document"] = {"file_id": "doc-file", "file_unique_id": "doc-u"}
            return message
        return True

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if open_transactions():
            self.violations.append(type(method).__name__)
        self.html_problems += _html_problems(method)
        if isinstance(method, AnswerCallbackQuery):
            if method.callback_query_id in self.answered:
                self.double_answers.append(method.callback_query_id)
            self.answered.add(method.callback_query_id)
        self.requests.append(method)
        if self.responses:
            queued = self.responses.popleft()
        else:
            queued = QueuedResponse(200, {"ok": True, "result": self._default_result(method)})
        if queued.network_error:
            raise TelegramNetworkError(method=method, message="connection dropped")
        response = self.check_response(
            bot=bot, method=method, status_code=queued.status, content=json.dumps(queued.body)
        )
        return response.result  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        if open_transactions():
            self.violations.append(f"download {url}")
        yield b""


# Telegram never gives two updates the same id, whichever process or factory sees them: a
# repeated id is a redelivery, which the bot drops once the first was handled.
_UPDATE_IDS = itertools.count(1)


@dataclass
class UpdateFactory:
    """Builds updates with increasing ids, as Telegram sends them."""

    _update_ids: itertools.count[int] = field(default_factory=lambda: _UPDATE_IDS)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def user(user_id: int, *, language: str = "ru", first_name: str = "Мария") -> User:
        return User(
            id=user_id,
            is_bot=False,
            first_name=first_name,
            last_name="Иванова",
            language_code=language,
        )

    @staticmethod
    def private_chat(user_id: int) -> Chat:
        return Chat(id=user_id, type="private")

    def message(
        self,
        user: User,
        text: str | None = None,
        *,
        chat: Chat | None = None,
        **extra: Any,
    ) -> Update:
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC).replace(microsecond=0),
            chat=chat or self.private_chat(user.id),
            from_user=user,
            text=text,
            **extra,
        )
        return Update(update_id=next(self._update_ids), message=message)

    def edited(self, sent: Update, text: str) -> Update:
        """The user's edit of a message sent earlier: same message id, new text."""
        assert sent.message is not None
        message = sent.message.model_copy(update={"text": text, "edit_date": int(time.time())})
        return Update(update_id=next(self._update_ids), edited_message=message)

    def document(
        self,
        user: User,
        *,
        file_name: str = "отчёт.pdf",
        file_size: int = 1024,
        caption: str | None = None,
    ) -> Update:
        document = Document(
            file_id=f"file-{file_name}",
            file_unique_id=f"u-{file_name}",
            file_name=file_name,
            file_size=file_size,
            mime_type="application/pdf",
        )
        return self.message(user, document=document, caption=caption)

    def photo(self, user: User, *, file_size: int = 50_000) -> Update:
        sizes = [
            PhotoSize(
                file_id="photo-small", file_unique_id="ps", width=90, height=90, file_size=1000
            ),
            PhotoSize(
                file_id="photo-big",
                file_unique_id="pb",
                width=1280,
                height=960,
                file_size=file_size,
            ),
        ]
        return self.message(user, photo=sizes)

    def callback(
        self,
        user: User,
        data: str,
        *,
        message_id: int | None = None,
        chat: Chat | None = None,
    ) -> Update:
        message = Message(
            message_id=message_id or next(self._message_ids),
            date=datetime.now(UTC).replace(microsecond=0),
            chat=chat or self.private_chat(user.id),
            from_user=User(id=BOT_ID, is_bot=True, first_name="Отчёты"),
            text="…",
        )
        query = CallbackQuery(
            id=str(next(self._update_ids) * 7),
            from_user=user,
            chat_instance="ci",
            message=message,
            data=data,
        )
        return Update(update_id=next(self._update_ids), callback_query=query)
